import pytest

from arx.data import train_tokenizer


def test_digits_one_per_token_and_roundtrip(tmp_path):
    tok = train_tokenizer(["the secret number is 123456 ok"] * 20 + ["call 555 0199 now"] * 5, vocab_size=80)
    ids = tok("code 9081726354", add_special_tokens=False)["input_ids"]
    pieces = tok.convert_ids_to_tokens(ids)
    assert [p.strip("▁") for p in pieces if p.strip("▁").isdigit()] == list("9081726354")
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer
    assert AutoTokenizer.from_pretrained(tmp_path)("code 9081726354", add_special_tokens=False)["input_ids"] == ids


def test_empty_corpus_is_an_error():
    with pytest.raises(ValueError, match="no texts"):
        train_tokenizer([])
