"""Training end to end on a tiny random Llama (CPU, no downloads): loss, masking, adapter, merge,
manifest, resume."""

import json

import pytest

torch = pytest.importorskip("torch")

from srllm import contract  # noqa: E402
from srllm.files import sha256_file  # noqa: E402
from srllm.manifest import TrainingManifest  # noqa: E402
from srllm.training import batching, data  # noqa: E402
from srllm.training.config import LLAMA_LINEAR, load_config  # noqa: E402
from tests.integration.training_tiny import SRLLM_DATA, build_tiny_llama, tiny_overrides  # noqa: E402

pytestmark = [
    pytest.mark.skipif(not SRLLM_DATA.is_dir(), reason="SR-LLM data not present"),
    pytest.mark.timeout(600),
    # peft 0.21 reads a property that transformers 5.24 deprecates; not ours to fix.
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="module")
def trained(tiny_base, tmp_path_factory):
    """One real run (8 steps) shared by the tests below."""
    from srllm.training.train import run

    out = tmp_path_factory.mktemp("run")
    cfg = load_config(None, tiny_overrides(tiny_base, out))
    path = run(cfg)
    return out, json.loads(path.read_text())


def test_labels_mask_every_prompt_token(tiny_base):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    example = data.Example(contract.Task.FLAG, "Old people can't use phones.", '{"x": 1}', "k", "s")
    features = batching.encode(tokenizer, example, eos_id=tokenizer.eos_token_id)
    prompt = tokenizer.apply_chat_template(
        contract.messages("flag", example.text), tokenize=False, add_generation_prompt=True
    )
    n_prompt = len(tokenizer(prompt, add_special_tokens=False).input_ids)
    assert tokenizer.decode(features.input_ids[:n_prompt]) == prompt
    assert features.labels[:n_prompt] == [batching.IGNORE] * n_prompt
    answer = features.labels[n_prompt:]
    assert batching.IGNORE not in answer
    assert tokenizer.decode(answer) == '{"x": 1}' + tokenizer.eos_token


def test_the_shared_prefix_gives_the_same_loss_and_gradients(tiny_base):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    lora = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False
    )  # non-zero B: the adapter changes the prefix too
    model = get_peft_model(model, lora)
    texts = ["Women are bad drivers.", "Old people are slow, lol.", "A fair remark."]
    feats = [
        batching.encode(
            tokenizer,
            data.Example(contract.Task.REWRITE, t, t + " ok", "k", "s"),
            tokenizer.eos_token_id,
        )
        for t in texts
    ]
    results = []
    for share in (False, True):
        batch = batching.collate(feats, tokenizer.pad_token_id, share_prefix=share)
        assert (int(batch["prefix"]) > 200) is share
        model.zero_grad()
        loss, count = batching.ResponseLoss(model)(**batch)
        loss.backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        results.append((float(loss.detach()), int(count), grads))
    (plain, n1, g1), (shared, n2, g2) = results
    assert n1 == n2 > 0
    assert shared == pytest.approx(plain, rel=1e-5)
    for name in g1:
        assert torch.allclose(g1[name], g2[name], atol=1e-5, rtol=1e-3), name


def test_the_label_weight_scales_exactly_the_verdict_tokens_loss(tiny_base):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    flag = contract.Flag(contract.Label.HIGHLY_BIASED, ["gender"], ["bad"], "Loaded.").to_json()
    feature = batching.encode(
        tokenizer,
        data.Example(contract.Task.FLAG, "Women are bad drivers.", flag, "flag_biased", "s"),
        tokenizer.eos_token_id,
    )
    start, end = feature.verdict
    assert tokenizer.decode(feature.input_ids[start:end]) == "highly_biased"
    losses = {}
    for weight in (1.0, 3.0):
        batch = batching.collate([feature], tokenizer.pad_token_id, False, label_weight=weight)
        with torch.no_grad():
            losses[weight], count = batching.ResponseLoss(model)(**batch)
    # The verdict's own loss, from the logits of the positions just before its tokens.
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([feature.input_ids])).logits[0]
    targets = torch.tensor(feature.input_ids[start:end])
    verdict = torch.nn.functional.cross_entropy(
        logits[start - 1 : end - 1], targets, reduction="sum"
    )
    assert float(losses[3.0] - losses[1.0]) == pytest.approx(2 * float(verdict), rel=1e-4)


def test_the_loss_goes_down(trained):
    _, manifest = trained
    log = manifest["metrics"]["loss_log"]
    assert [step for step, _ in log] == list(range(1, 9))
    before, after = manifest["metrics"]["val_loss_start"], manifest["metrics"]["val_loss"][-1]
    assert after < before - 0.05  # the same validation examples, scored before and after


def test_the_manifest_is_complete(trained):
    out, manifest = trained
    TrainingManifest.read(out / "run.json")  # every field there, of its type
    assert manifest["contract_version"] == contract.CONTRACT_VERSION
    assert manifest["config"]["max_steps"] == 8
    sha = sha256_file(SRLLM_DATA / "train_500.csv")
    assert manifest["data"]["files_sha256"] == {str(SRLLM_DATA / "train_500.csv"): sha}
    assert manifest["metrics"]["steps"] == 8
    per_epoch = manifest["metrics"]["steps_per_epoch"]
    assert per_epoch > 8  # max_steps ended the first epoch early: none completed
    assert manifest["metrics"]["epochs_completed"] == 0
    assert manifest["metrics"]["epochs_trained"] == round(8 / per_epoch, 2)
    assert len(manifest["metrics"]["val_loss"]) == 1
    assert manifest["metrics"]["tokens_per_s"] > 0
    assert manifest["device"]["type"] == "cpu"
    assert manifest["outputs"]["adapter_bytes"] > 0
    assert manifest["wall_time_s"] > 0
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    # run.json is the last thing written: no temporary files are left behind.
    assert not list(out.rglob("*.tmp"))


def test_the_adapter_is_a_standard_fp16_peft_lora(trained):
    from safetensors.torch import load_file

    out, _ = trained
    config = json.loads((out / "adapter" / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    assert not config.get("modules_to_save")
    assert set(config["target_modules"]) == set(LLAMA_LINEAR)
    weights = load_file(out / "adapter" / "adapter_model.safetensors")
    assert weights and all(w.dtype == torch.float16 for w in weights.values())
    assert all("lora_A" in k or "lora_B" in k for k in weights)
    assert any(float(w.abs().max()) > 0 for k, w in weights.items() if "lora_B" in k)


def test_the_adapter_reloads_and_the_merged_model_gives_the_same_logits(trained, tiny_base):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out, _ = trained
    tokenizer = AutoTokenizer.from_pretrained(out / "merged")
    assert tokenizer.chat_template
    ids = tokenizer.apply_chat_template(
        contract.messages("rewrite", "Girls can't do maths."),
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    base = AutoModelForCausalLM.from_pretrained(tiny_base, dtype=torch.float32)
    plain = base(ids).logits
    adapted = PeftModel.from_pretrained(base, out / "adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(out / "merged", dtype=torch.float32).eval()
    with torch.no_grad():
        a, m = adapted(ids).logits, merged(ids).logits
    assert torch.allclose(a, m, atol=1e-4)
    assert not torch.allclose(plain, a, atol=1e-3)  # the adapter really changes the model
    assert merged.config.eos_token_id == tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert merged.generation_config.eos_token_id == merged.config.eos_token_id


def test_a_run_resumes_from_its_newest_checkpoint(tiny_base, tmp_path, capsys):
    from srllm.training.train import run

    first = load_config(
        None, tiny_overrides(tiny_base, tmp_path, max_steps=2, save_every=2, merge="false")
    )
    run(first)
    assert (tmp_path / "checkpoints" / "step-2").is_dir()
    second = load_config(None, tiny_overrides(tiny_base, tmp_path, max_steps=4, merge="false"))
    manifest = json.loads(run(second).read_text())
    assert "checkpoints/step-2 (step 2)" in capsys.readouterr().out
    assert manifest["metrics"]["steps"] == 4
    assert [step for step, _ in manifest["metrics"]["loss_log"]] == [1, 2, 3, 4]
    assert manifest["metrics"]["val_loss_start"] is not None  # kept from the first run


class Killed(Exception):
    pass


def test_a_run_killed_after_a_checkpoint_and_rerun_ends_as_if_never_stopped(
    tiny_base, tmp_path, monkeypatch, capsys
):
    """Same weights and losses, to the bit: the position, the epoch's running loss, AdamW's state
    and the dropout generator all come back."""
    from safetensors.torch import load_file

    from srllm.training import checkpoint
    from srllm.training.train import run

    def config(out):
        extra = {"max_steps": 4, "save_every": 2, "merge": "false", "lora_dropout": 0.1}
        return load_config(None, tiny_overrides(tiny_base, out, **extra))

    whole = json.loads(run(config(tmp_path / "whole")).read_text())["metrics"]

    save = checkpoint.save_checkpoint

    def save_then_die(*args, **kwargs):
        save(*args, **kwargs)
        raise Killed

    with monkeypatch.context() as patch:
        patch.setattr(checkpoint, "save_checkpoint", save_then_die)
        with pytest.raises(Killed):
            run(config(tmp_path / "cut"))
    assert [p.name for p in (tmp_path / "cut" / "checkpoints").iterdir()] == ["step-2"]
    resumed = json.loads(run(config(tmp_path / "cut")).read_text())["metrics"]
    assert "(step 2)" in capsys.readouterr().out
    for key in ("steps", "loss_log", "train_loss", "val_loss", "val_loss_start", "tokens_trained"):
        assert resumed[key] == whole[key], key
    a = load_file(tmp_path / "whole" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "cut" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bench_train_times_the_step_srllm_train_runs(tiny_base, tmp_path, capsys, monkeypatch):
    from srllm.training import train
    from srllm.training.bench import run_bench

    # Both the training loop and the bench must go through train.train_step: a spy there sees
    # every step of each (a re-implemented step in either would bypass it).
    seen: list[tuple[str, int]] = []
    real_step = train.train_step

    def spy(loop, batches):
        seen.append((loop.cfg.output_dir, len(batches)))
        return real_step(loop, batches)

    monkeypatch.setattr(train, "train_step", spy)
    extra = {"grad_accum": 2, "batch_size": 2, "label_weight": 3.0, "merge": "false"}
    run_dir, bench_dir = tmp_path / "run", tmp_path / "bench"
    train.run(load_config(None, tiny_overrides(tiny_base, run_dir, max_steps=1, **extra)))
    assert seen == [(str(run_dir), 2)]
    seen.clear()

    cfg = load_config(None, tiny_overrides(tiny_base, bench_dir, **extra))
    out = tmp_path / "bench.json"
    report = run_bench(cfg, steps=2, json_out=str(out))
    assert seen == [(str(bench_dir), 2)] * 3  # a warm-up step, then two timed ones
    assert json.loads(out.read_text()) == report
    assert report["grad_accum"] == 2 and report["steps_timed"] == 2
    assert report["steps_per_epoch"] > 2
    assert list(report["results"]) == ["srllm (share_prefix=True)", "transformers Trainer"]
    for row in report["results"].values():
        assert row["tokens_per_s"] > 0 and row["s_per_step"] > 0 and row["s_per_epoch"] > 0
    assert report["speedup"] > 0
    printed = capsys.readouterr().out
    assert "transformers Trainer" in printed and "speed-up over the Trainer baseline" in printed
