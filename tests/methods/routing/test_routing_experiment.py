"""The experiment's data path shared by all scales: JSONL prompt/answer sets, answer-only loss, token F1."""

import json

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from arx.experiments.routing import JsonlWorld, MultilingualWorld, answer_loss, parallel, task_f1, token_f1

from .routing_models import tiny_qwen2moe


def word_tokenizer() -> PreTrainedTokenizerFast:
    words = ["<pad>", "capital", "of", "fr", "is", "paris", "hauptstadt", "von", "ist", "new", "york", "city"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>")


def test_token_f1_by_hand():
    assert token_f1([5, 6], [5, 6]) == 1.0
    assert token_f1([5, 7], [5, 6]) == pytest.approx(0.5)  # p = r = 1/2
    assert token_f1([5], [5, 6, 7]) == pytest.approx(0.5)  # p = 1, r = 1/3
    assert token_f1([8], [5]) == 0.0


def test_jsonl_world_marks_multi_token_answers(tmp_path):
    rows = {"en": [{"prompt": "capital of fr is", "answer": "paris"}, {"prompt": "capital of fr is", "answer": "new york city"}],
            "de": [{"prompt": "hauptstadt von fr ist", "answer": "paris"}]}
    for lang, rs in rows.items():
        (tmp_path / f"{lang}.test.jsonl").write_text("\n".join(json.dumps(r) for r in rs))
    world = JsonlWorld(str(tmp_path), ["en"], ["de"], word_tokenizer())
    en = world.task("en", "test")
    assert en.ids[1].tolist() == [1, 2, 3, 4, 9, 10, 11]
    assert en.answer[1].tolist() == [False] * 4 + [True] * 3
    assert en.answer[0].tolist() == [False] * 4 + [True] + [False] * 2 and en.mask[0].tolist() == [1] * 5 + [0] * 2
    data, lang = parallel(world, "test")
    assert lang.tolist() == [0, 0, 1] and data.ids.shape == (3, 7)
    with pytest.raises(FileNotFoundError, match="sw.test.jsonl is missing.*'prompt' and 'answer'"):
        JsonlWorld(str(tmp_path), ["en"], ["sw"], word_tokenizer()).task("sw", "test")


def test_answer_loss_and_f1_use_only_answer_tokens():
    torch.set_num_threads(1)
    world = MultilingualWorld(high=["h0", "h1"], low=["l0"], n_subjects=4, n_relations=2, n_objects=3,
                              low_fraction=0.25, adapt_fraction=0.4, seed=0)
    model = tiny_qwen2moe(layers=3)
    model.resize_token_embeddings(world.vocab_size)
    data = world.task("h0", "all")
    logits = model(input_ids=data.ids).logits
    expected = torch.nn.functional.cross_entropy(logits[:, 3], data.ids[:, 4])
    assert answer_loss(model, data, aux=False).item() == pytest.approx(expected.item(), rel=1e-5)
    f1 = task_f1(model, world, "all")
    exact = 100 * (logits[:, 3].argmax(-1) == data.ids[:, 4]).float().mean().item()
    assert f1["h0"] == pytest.approx(exact)
