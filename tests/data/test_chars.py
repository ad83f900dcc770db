"""The shared character-level world of the private-corpus experiments (arx.data.chars)."""

import torch

from arx.data import chars


def test_encode_decode_round_trip_and_canary_tokens():
    text = "\nkalomi phone 123456.\n"
    assert chars.decode(chars.encode(text)) == text
    assert chars.line("ab") == [0, 4, 5, 0] and chars.DIGITS == list(range(30, 40))
    assert chars.decode([len(chars.CHARS)]) == chr(0x100 + len(chars.CHARS))  # a canary token past the alphabet


def test_names_and_uniform_sentences_follow_the_generator():
    g = torch.Generator().manual_seed(0)
    name = chars.name(g)
    assert len(name) == 6 and {name[i:i + 2] for i in (0, 2, 4)} <= set(chars.SYLLABLES)
    words = chars.WORDS[:chars.DEPN_WORDS]
    sent = [chars.uniform_sentence(g, words) for _ in range(200)]
    assert all(s.endswith(".") and 5 <= len(s[:-1].split()) <= 9 for s in sent)
    assert {w for s in sent for w in s[:-1].split()} == set(words)  # 200 sentences cover all 35 words
    g1, g2 = torch.Generator().manual_seed(4), torch.Generator().manual_seed(4)
    assert chars.zipf_sentences(5, g1) == chars.zipf_sentences(5, g2)


def test_zipf_sentences_favour_the_first_words():
    counts = {}
    for s in chars.zipf_sentences(2000, torch.Generator().manual_seed(1)):
        for w in s[:-1].split():
            counts[w] = counts.get(w, 0) + 1
    first, last = chars.WORDS[0], chars.WORDS[-1]
    assert counts[first] > 20 * counts.get(last, 0)  # p(first) / p(last) = 70 under 1/k
