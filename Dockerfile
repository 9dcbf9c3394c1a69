# One image for api, worker and tensorboard; the command picks the role.
# Official PyTorch CUDA runtime image: torch, CUDA and cuDNN come from the base, never from pip.
FROM pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    TORCHYARD_DATA_DIR=/data

WORKDIR /app

# Pinned dependencies first (cached layer); torch is held at the base image's version.
COPY requirements/docker.txt /app/requirements.txt
RUN python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > /tmp/torch-constraint.txt \
    && pip install -r /app/requirements.txt -c /tmp/torch-constraint.txt

COPY pyproject.toml README.md /app/
COPY server /app/server
COPY worker /app/worker
COPY dl /app/dl
COPY cli /app/cli
COPY client /app/client
COPY web /app/web
RUN pip install --no-deps /app \
    && useradd --create-home --uid 10001 torchyard \
    && mkdir -p /data && chown torchyard:torchyard /data

USER torchyard
VOLUME ["/data"]
EXPOSE 8000 6006

# The api answers /health; a worker checks that it can reach the database and the broker.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-m", "server.healthcheck"]

ENTRYPOINT ["torchyard"]
CMD ["api", "--host", "0.0.0.0", "--port", "8000"]
