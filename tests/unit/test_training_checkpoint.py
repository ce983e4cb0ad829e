"""The typed resume state and the checkpoint round trip, on a two-weight model (no transformers)."""

import json

import pytest

torch = pytest.importorskip("torch")

from srllm.errors import Code, SrllmError  # noqa: E402
from srllm.training import checkpoint  # noqa: E402
from srllm.training.checkpoint import STATE_VERSION, ResumeState  # noqa: E402

STATE = ResumeState(
    step=7,
    epoch=1,
    batch=12,
    epoch_loss=123.25,
    epoch_labels=400,
    train_loss=[1.5],
    val_loss=[1.25],
    val_loss_start=2.0,
    tokens=9000,
    train_seconds=61.5,
    loss_log=[[1, 2.1], [7, 1.2]],
)


def test_the_state_round_trips_through_json():
    data = json.loads(json.dumps(STATE.to_dict()))
    assert data["version"] == STATE_VERSION
    assert ResumeState.from_dict(data, "ckpt") == STATE
    fresh = ResumeState()
    assert ResumeState.from_dict(json.loads(json.dumps(fresh.to_dict())), "ckpt") == fresh


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"version": None}, "version None"),  # the untyped state of before had no version
        ({"version": STATE_VERSION + 1}, f"version {STATE_VERSION + 1}"),
        ({"partial": True}, "fields"),
        ({"step": "7"}, "'step'"),
        ({"epoch_labels": True}, "'epoch_labels'"),
        ({"loss_log": [[1, "x"]]}, "'loss_log'"),
    ],
)
def test_a_state_of_another_version_is_refused_naming_the_checkpoint(change, words):
    data = {**STATE.to_dict(), **change}
    with pytest.raises(SrllmError) as err:
        ResumeState.from_dict(data, "runs/x/checkpoints/step-7")
    assert err.value.code is Code.DATA_INVALID
    assert "runs/x/checkpoints/step-7" in err.value.message and words in err.value.message


def model_and_optimizer(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Dropout(0.5))
    model[0].bias.requires_grad_(False)  # only trainable weights are checkpointed
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    return model, optimizer


def test_a_checkpoint_restores_weights_optimiser_rng_and_state(tmp_path):
    model, optimizer = model_and_optimizer(0)
    saved = checkpoint.save_checkpoint(tmp_path, model, optimizer, STATE, keep=2)
    assert saved == tmp_path / "checkpoints" / "step-7"
    after_save = torch.rand(3)  # the dropout generator goes on from where it was saved
    other, other_opt = model_and_optimizer(1)
    state = checkpoint.load_checkpoint(saved, other, other_opt)
    assert state == STATE
    assert torch.equal(other[0].weight, model[0].weight)
    assert not torch.equal(other[0].bias, model[0].bias)  # frozen: the base model's, not saved
    assert torch.equal(
        other_opt.state_dict()["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"]
    )
    assert torch.equal(torch.rand(3), after_save)


def test_an_old_checkpoint_changes_nothing_and_says_how_to_go_on(tmp_path):
    model, optimizer = model_and_optimizer(0)
    saved = checkpoint.save_checkpoint(tmp_path, model, optimizer, STATE, keep=2)
    (saved / "state.json").write_text(json.dumps({"step": 7, "epoch": 1, "batch": 12}))
    other, other_opt = model_and_optimizer(1)
    before = other[0].weight.clone()
    with pytest.raises(SrllmError) as err:
        checkpoint.load_checkpoint(saved, other, other_opt)
    assert str(saved) in err.value.message and "resume=false" in err.value.message
    assert err.value.details["path"] == str(saved)
    assert torch.equal(other[0].weight, before)


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    model, optimizer = model_and_optimizer(0)
    for step in (2, 10, 4):
        state = ResumeState(step=step)
        checkpoint.save_checkpoint(tmp_path, model, optimizer, state, keep=2)
    assert [p.name for p in checkpoint.checkpoint_dirs(tmp_path)] == ["step-4", "step-10"]
