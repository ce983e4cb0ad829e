"""The converter's other tokenizer paths end to end: SentencePiece with byte fallback (a tiny
Llama 2 style model) and Qwen2's byte-level BPE (a tiny qwen2 model), both trained here.

llama.cpp must give the token ids transformers gives (and, for SentencePiece, the ids
SentencePiece itself gives) on text outside the training data, and the model's logits must match.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from srllm.cli import main as cli
from srllm.convert.ggufio import GGUFFile
from srllm.convert.verify import MIN_COSINE, verify
from tests.integration.convert_tiny import CHATML_MARKERS, QWEN2_SPECIALS, SPM_SPECIALS, build_tiny

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*is_gradient_checkpointing.*:FutureWarning"),
    pytest.mark.timeout(300),
]
torch = pytest.importorskip("torch")
llama_cpp = pytest.importorskip("llama_cpp")
spm = pytest.importorskip("sentencepiece")

BYTE, CONTROL, UNUSED = 6, 3, 5  # gguf.TokenType

# Plain text both tokenizer families must agree on. The training text has no CJK, no emoji and
# few accented letters, so these run through byte fallback (SentencePiece) or raw bytes.
TRICKY = (
    "hello world",
    "Hello World",
    "x",
    " x",
    " leading space",
    "  two leading spaces",
    "trailing spaces  ",
    "inner   spaces and\ttabs",
    "\n",
    "\nstarts with a line break",
    "ends with line breaks\n\n",
    "windows\r\nline\r\nbreaks",
    "emoji 🙂👍🏽 and a ZWJ family 👩‍👩‍👧 🇫🇷",
    "中文字符 and 日本語のテキスト and 한국어",
    "accents: café naïve résumé über déjà vu",
    "absent accents: Ærøskøbing ñandú Ωμέγα İstanbul ﬃ",
    "numbers 1234567 and 3.14159 and ٣٤٥",
    "don't, we'll, they're — “quotes” «guillemets» …",
    "a\u00a0no-break space, a zero\u200bwidth space, a soft\u00adhyphen",
    "right-to-left: \u200fשלום עולם\u200f and مرحبا",
    "math ∑∫√∞ ≠ ≤ and box ▅ and ▁ (the SentencePiece space)",
    "control \x01\x07\x1b and DEL \x7f",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the BMP 🀄",
    "<b>tags</b> & [brackets] {braces} \\backslash",
)
CHAT = [
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "Is this biased? 🙂\n  Old people are slow."},
]


def metadata(path: Path) -> dict:
    return {key: kv.value for key, kv in GGUFFile(path).kv.items()}


def convert(folder: Path, out: Path) -> Path:
    assert cli(["convert", str(folder), "--out", str(out)]) == 0
    return out


def vocab_only(path: Path):
    return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)


def cpp_ids(llm, text: str) -> list[int]:
    return llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)


def hf_ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False)["input_ids"]


def assert_logits_match(folder: Path, gguf: Path, prompts: tuple[str, ...]) -> None:
    result = verify(folder, gguf, threads=2, prompts=prompts)
    for row in result["rows"]:
        assert row["same_tokens"], row["prompt"]
        assert row["min_cosine"] >= MIN_COSINE, row


# -- SentencePiece with byte fallback --------------------------------------------------------


@pytest.fixture(scope="module", params=["spm", "spm-no-prefix"])
def spm_case(request, tmp_path_factory) -> tuple[Path, Path, object, bool]:
    """(model folder, GGUF, transformers tokenizer, SentencePiece adds its dummy prefix)."""
    from transformers import AutoTokenizer

    name = request.param
    folder = build_tiny(tmp_path_factory.mktemp(name) / f"tiny-{name}", tokenizer=name)
    gguf = convert(folder, tmp_path_factory.mktemp(f"{name}-gguf") / f"tiny-{name}-f16.gguf")
    return folder, gguf, AutoTokenizer.from_pretrained(folder), name == "spm"


def test_spm_gguf_is_a_llama_vocab_with_byte_tokens(spm_case):
    folder, gguf, tok, prefix = spm_case
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    n_pieces, n = sp.get_piece_size(), len(tok)
    fields = metadata(gguf)
    assert fields["tokenizer.ggml.model"] == "llama"
    assert fields["tokenizer.ggml.pre"] == "default"
    assert fields["tokenizer.ggml.add_space_prefix"] is prefix
    tokens, types = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.token_type"]
    scores = fields["tokenizer.ggml.scores"]
    assert len(tokens) == len(types) == len(scores) == fields["llama.vocab_size"] > n
    assert tokens[:n_pieces] == [sp.id_to_piece(i) for i in range(n_pieces)]
    assert [tokens[i] for i, t in enumerate(types) if t == BYTE] == [
        f"<0x{b:02X}>" for b in range(256)
    ]
    # ChatML's markers, added after the pieces in tokenizer.json only (no added_tokens.json).
    assert tokens[n_pieces:n] == list(CHATML_MARKERS)
    assert [types[i] for i in (1, 2, *range(n_pieces, n))] == [CONTROL] * (2 + n - n_pieces)
    assert all(t == UNUSED for t in types[n:])  # the model's padding rows
    assert [tokens[i] for i in (1, 2)] == list(SPM_SPECIALS[1:])
    assert fields["tokenizer.ggml.bos_token_id"] == 1
    assert fields["tokenizer.ggml.eos_token_id"] == 2
    assert fields["tokenizer.ggml.add_bos_token"] is True
    assert fields["tokenizer.chat_template"] == tok.chat_template


def test_spm_token_ids_match_sentencepiece_and_transformers(spm_case):
    folder, gguf, tok, prefix = spm_case
    sp = spm.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    byte_ids = {i for i in range(sp.get_piece_size()) if sp.is_byte(i)}
    llm = vocab_only(gguf)
    try:
        fell_back = []
        for text in TRICKY:
            ids = hf_ids(tok, text)
            assert sp.encode(text) == ids, text  # the reference tokenizer is itself right
            assert cpp_ids(llm, text) == ids, text
            if "▁" not in text:  # SentencePiece decodes its own space marker as a space
                assert tok.decode(ids) == text
                dummy = " " if prefix else ""  # llama.cpp keeps the dummy prefix's space
                assert llm.detokenize(ids).decode("utf-8") == dummy + text, text
            fell_back += [text for i in ids if i in byte_ids][:1]
        assert len(fell_back) >= 8  # CJK, emoji, absent accents, controls: byte fallback ran
        # Control tokens split the text; each piece after one gets its own dummy prefix.
        chat = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
        for text in ("<s>hello</s> world", "</s>\n<s> x", chat):
            assert cpp_ids(llm, text) == hf_ids(tok, text), text
        assert cpp_ids(llm, "<s></s><|im_start|>") == [1, 2, sp.get_piece_size()]
    finally:
        llm.close()


def test_spm_model_logits_match_transformers(spm_case):
    folder, gguf, tok, _ = spm_case
    chat = tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert_logits_match(folder, gguf, (chat, *TRICKY[12:16]))


# -- Qwen2 byte-level BPE ------------------------------------------------------------------


@pytest.fixture(scope="module")
def qwen2_dir(tmp_path_factory) -> Path:
    return build_tiny(tmp_path_factory.mktemp("qwen2") / "tiny-qwen2", "qwen2", tokenizer="qwen2")


@pytest.fixture(scope="module")
def qwen2_gguf(qwen2_dir, tmp_path_factory) -> Path:
    return convert(qwen2_dir, tmp_path_factory.mktemp("qwen2-gguf") / "tiny-qwen2-f16.gguf")


@pytest.fixture(scope="module")
def qwen2_tok(qwen2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen2_dir)


def test_qwen2_gguf_names_the_qwen2_pre_tokenizer(qwen2_gguf, qwen2_tok):
    fields = metadata(qwen2_gguf)
    assert fields["general.architecture"] == "qwen2"
    assert fields["tokenizer.ggml.model"] == "gpt2"
    assert fields["tokenizer.ggml.pre"] == "qwen2"
    tokens, types = fields["tokenizer.ggml.tokens"], fields["tokenizer.ggml.token_type"]
    n = len(qwen2_tok)
    assert len(tokens) == fields["qwen2.vocab_size"] > n
    assert tokens[n - 3 : n] == list(QWEN2_SPECIALS) and types[n - 3 : n] == [CONTROL] * 3
    assert all(t == UNUSED for t in types[n:])
    assert len(fields["tokenizer.ggml.merges"]) > 100
    assert fields["tokenizer.ggml.eos_token_id"] == n - 3
    assert fields["tokenizer.ggml.add_bos_token"] is False
    assert fields["tokenizer.chat_template"] == qwen2_tok.chat_template


def test_qwen2_token_ids_match_transformers(qwen2_gguf, qwen2_tok):
    llm = vocab_only(qwen2_gguf)
    try:
        for text in TRICKY:
            ids = hf_ids(qwen2_tok, text)
            assert cpp_ids(llm, text) == ids, text
            assert llm.detokenize(ids, special=True).decode("utf-8") == text, text
        chat = qwen2_tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
        ids = hf_ids(qwen2_tok, chat)
        assert cpp_ids(llm, chat) == ids
        assert llm.detokenize(ids, special=True).decode("utf-8") == chat
        n = len(qwen2_tok)
        for i, special in enumerate(QWEN2_SPECIALS):  # single control tokens, never split
            assert cpp_ids(llm, f"a{special}b") == [
                *hf_ids(qwen2_tok, "a"),
                n - 3 + i,
                *hf_ids(qwen2_tok, "b"),
            ]
    finally:
        llm.close()


def test_qwen2_agrees_on_the_nfc_form_of_any_text(qwen2_gguf, qwen2_tok):
    """transformers NFC-normalises first (Qwen2's normalizer); llama.cpp has no normaliser, so it
    agrees on text already in NFC (as all of TRICKY is) and on the NFC of any other text."""
    llm = vocab_only(qwen2_gguf)
    try:
        for text in ("cafe\u0301 nai\u0308ve", "A\u030a ring, \u1100\u1161 jamo", "ﬃ Ⅻ"):
            nfc = unicodedata.normalize("NFC", text)
            assert cpp_ids(llm, nfc) == hf_ids(qwen2_tok, text), text
    finally:
        llm.close()


def test_qwen2_model_logits_match_transformers(qwen2_dir, qwen2_gguf, qwen2_tok):
    chat = qwen2_tok.apply_chat_template(CHAT, tokenize=False, add_generation_prompt=True)
    assert_logits_match(qwen2_dir, qwen2_gguf, (chat, *TRICKY[12:16]))
