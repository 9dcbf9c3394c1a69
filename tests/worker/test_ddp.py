"""How the DDP launcher turns its ranks' results and exit codes into the job's outcome (one function;
tests/e2e/test_ddp.py runs the real rank processes)."""

import signal

from worker.ddp import _outcome, is_peer_failure

PEER = {"status": "failed", "error": "RuntimeError: Connection closed by peer", "comm": True}


def test_outcome_prefers_the_rank_that_failed_on_its_own() -> None:
    own = {"status": "failed", "error": "training process 1 of 2 ran out of memory; lower batch_size",
           "comm": False}
    outcome = _outcome(1, [PEER, own], [1, 1], first_failed=1)
    assert outcome is not None and outcome.status == "failed"
    assert outcome.error == "training process 1 of 2 ran out of memory; lower batch_size"


def test_outcome_names_a_killed_rank_without_a_result() -> None:
    outcome = _outcome(1, [PEER, None], [1, -signal.SIGKILL], first_failed=1)
    assert outcome is not None
    assert outcome.error == ("training process 1 of 2 was killed by SIGKILL; "
                             "the host may have run out of memory")


def test_outcome_is_rank_zero_result_once_it_finished_training() -> None:
    done = {"status": "cancelled", "summary": {"train_loss": 0.5}, "error": None, "comm": False}
    outcome = _outcome(1, [done, None], [0, -signal.SIGTERM], first_failed=1)
    assert outcome is not None and (outcome.status, outcome.summary) == ("cancelled", {"train_loss": 0.5})
    assert _outcome(1, [{"status": "lost"}, {"status": "succeeded"}], [0, 0], first_failed=None) is None


def test_is_peer_failure_recognises_gloo_connection_closed() -> None:
    assert is_peer_failure(RuntimeError("[pair.cc:553] Connection closed by peer [127.0.0.1]:34692."))
    assert not is_peer_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))
