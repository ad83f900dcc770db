"""The DEPN experiments end to end on a tiny config: metric keys the claims read, outputs, persistent = runtime."""

import torch

from arx.experiments import RunContext, registered


def run(name, cfg, out):
    exp = registered()[name]
    out.mkdir(parents=True, exist_ok=True)
    return exp.run(exp.config.model_validate(cfg), RunContext(out=out, seed=0)).model_dump(mode="json")


def base(cfg, out):
    return run("depn_base", cfg, out)


def edit(cfg, out):
    return run("depn_edit", cfg, out)


def dynamics(cfg, out):
    return run("depn_dynamics", cfg, out)

torch.set_num_threads(1)
CORPUS = {"n_secrets": 8, "digits": 3, "repeats": [8], "n_filler": 20, "n_heldout": 10}
MODELS = {"gpt2_private": {"n_layer": 2, "n_embd": 16, "n_head": 2, "n_inner": 32},
          "gpt2_private_mid": {"n_layer": 2, "n_embd": 20, "n_head": 2, "n_inner": 40},
          "gpt2_private_large": {"n_layer": 2, "n_embd": 24, "n_head": 2, "n_inner": 48}}
EDIT = {"corpus": CORPUS, "memorized_bits": 0.0, "min_items": 4, "max_items": 4,
        "ig": {"steps": 4, "rule": "left", "objective": "prob"}, "select": {"fraction": 0.1, "max_per_item": 5},
        "budgets": [2, 4, 8], "budget": 4, "random_draws": 2, "secret_sharer_items": 1}


def test_depn_pipeline(tmp_path):
    b = base({"corpus": CORPUS, "models": MODELS,
              "train": {"steps": 40, "batch_size": 8, "seq_len": 24, "lr": 0.01, "ckpt_every": 20}}, tmp_path / "base")
    assert b["models"]["gpt2_private"]["checkpoints"] == [20] and set(b["models"]) == set(MODELS)
    m = edit({**EDIT, "model_dir": str(tmp_path / "base" / "gpt2_private")}, tmp_path / "edit")
    assert m["n_items"] == 4 and m["budget"] == 4 and set(m["by_budget"]) == {"2", "4", "8"}
    for b_, r in m["by_budget"].items():
        assert r["n_neurons"] <= int(b_) and sum(r["layer_distribution"]) == r["n_neurons"]
        assert len(r["exposure_after_per_item"]) == 4
    at = m["by_budget"]["4"]
    assert m["exposure"] == at["exposure"] and m["random"] == at["random"] and m["n_neurons"] == at["n_neurons"]
    assert at["exposure"]["before_mean"] == sum(m["exposure_before_per_item"]) / 4
    assert m["persistent_vs_runtime_max_abs_logit_diff"] <= 1e-6
    ss = m["secret_sharer_exact_exposure"]
    assert len(ss["before"]) == len(ss["after"]) == 1 and 0 <= ss["before"][0] <= 3 * 3.33
    assert (tmp_path / "edit" / "edited_model" / "config.json").exists()
    assert (tmp_path / "edit" / "layer_distribution.png").exists()
    d = dynamics({"corpus": CORPUS, "base_dir": str(tmp_path / "base"), "models": list(MODELS), "final_step": 40,
                  "n_items": 2, "top_k": 3, "ig": {"steps": 4, "rule": "left", "objective": "prob"}}, tmp_path / "dyn")
    assert all(s["trajectory"]["steps"] == [20, 40] for s in d["sizes"].values())
    params = [d["sizes"][n]["params"] for n in MODELS]
    assert params == sorted(params) and len(set(params)) == 3
    assert set(d["growth"]) == {"steps_exposure_spearman", "steps_mass_spearman", "size_exposure_spearman",
                                "size_mass_spearman"}
    assert all(-1.0 <= v <= 1.0 for v in d["growth"].values())


def test_too_few_memorized_items_and_an_unswept_budget_are_errors(tmp_path):
    import pytest

    base({"corpus": CORPUS, "models": {"gpt2_private": MODELS["gpt2_private"]},
          "train": {"steps": 5, "batch_size": 8, "seq_len": 24, "lr": 0.01, "ckpt_every": 100}}, tmp_path / "base")
    model_dir = str(tmp_path / "base" / "gpt2_private")
    with pytest.raises(ValueError, match="budget 3 is not one of"):
        edit({**EDIT, "model_dir": model_dir, "budget": 3}, tmp_path / "e1")
    with pytest.raises(RuntimeError, match="min_items"):
        edit({**EDIT, "model_dir": model_dir, "memorized_bits": 100.0}, tmp_path / "e2")
