"""GAN training: alternating discriminator and generator steps on each batch of real samples."""

from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from dl.loaders import Batch
from dl.tasks import Amp, _call


class GanStepper:
    """Model with .generator, .discriminator and .latent_dim (dl.spec.GAN or any alike module)."""

    def __init__(self, model: nn.Module, compile_fn: Callable[[nn.Module], Callable[[Tensor], Tensor]],
                 loss_fn: nn.Module, opt_d: torch.optim.Optimizer, opt_g: torch.optim.Optimizer,
                 amp: Amp, clip: float | None) -> None:
        self.model, self.loss_fn, self.amp, self.clip = model, loss_fn, amp, clip
        gen, disc = model.generator, model.discriminator
        if not isinstance(gen, nn.Module) or not isinstance(disc, nn.Module):
            raise TypeError("a GAN model needs .generator and .discriminator modules")
        self.gen, self.disc = compile_fn(gen), compile_fn(disc)
        self.gen_params = [p for p in gen.parameters() if p.requires_grad]
        self.disc_params = [p for p in disc.parameters() if p.requires_grad]
        self.latent_dim = int(model.latent_dim)  # type: ignore[arg-type]
        self.optimizers = [opt_d, opt_g]
        self.metric_names: tuple[str, ...] = ("d_loss", "g_loss")

    def _bce(self, logits: Tensor, real: bool) -> Tensor:
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return _call(self.loss_fn, "the discriminator loss", logits, target)

    def _apply(self, loss: Tensor, opt: torch.optim.Optimizer, params: list[nn.Parameter]) -> None:
        opt.zero_grad(set_to_none=True)
        self.amp.scaler.scale(loss).backward()
        if self.clip is not None:
            self.amp.scaler.unscale_(opt)
            nn.utils.clip_grad_norm_(params, self.clip)
        self.amp.scaler.step(opt)

    def step(self, group: list[Batch], weights: list[float] | None = None) -> dict[str, Tensor]:
        real = group[0][0]
        z = torch.randn(len(real), self.latent_dim, device=real.device)
        with self.amp.autocast():
            fake = _call(self.gen, "the generator", z)
            d_loss = self._bce(_call(self.disc, "the discriminator", real), True) + self._bce(
                self.disc(fake.detach()), False)
        self._apply(d_loss, self.optimizers[0], self.disc_params)
        with self.amp.autocast():
            g_loss = self._bce(self.disc(fake), True)
        self._apply(g_loss, self.optimizers[1], self.gen_params)
        self.amp.scaler.update()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def evaluate(self, batches: Iterator[Batch]) -> dict[str, float]:
        return {}  # a GAN has no held-out loss worth reporting
