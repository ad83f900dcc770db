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
          "gpt2_private_large": {"n_layer": 2, "n_embd": 24, "n_head": 2, "n_inner": 48}}


def test_depn_pipeline(tmp_path):
    b = base({"corpus": CORPUS, "models": MODELS,
              "train": {"steps": 40, "batch_size": 8, "seq_len": 24, "lr": 0.01, "ckpt_every": 20}}, tmp_path / "base")
    assert b["models"]["gpt2_private"]["checkpoints"] == [20] and set(b["models"]) == set(MODELS)
    m = edit({"corpus": CORPUS, "model_dir": str(tmp_path / "base" / "gpt2_private"), "memorized_bits": 0.0,
              "max_items": 4, "ig": {"steps": 4, "rule": "left", "objective": "logprob"},
              "select": {"fraction": 0.1, "max_per_item": 5, "min_item_fraction": 0.25, "max_neurons": 8},
              "random_draws": 2, "secret_sharer_items": 1}, tmp_path / "edit")
    assert m["n_items"] == 4 and 1 <= m["n_neurons"] <= 8 and sum(m["layer_distribution"]) == m["n_neurons"]
    for key in ("relative_reduction",):
        assert isinstance(m["exposure"][key], float)
    assert m["persistent_vs_runtime_max_abs_logit_diff"] <= 1e-6
    ss = m["secret_sharer_exact_exposure"]
    assert len(ss["before"]) == len(ss["after"]) == 1 and 0 <= ss["before"][0] <= 3 * 3.33
    assert (tmp_path / "edit" / "edited_model" / "config.json").exists()
    assert (tmp_path / "edit" / "layer_distribution.png").exists()
    d = dynamics({"corpus": CORPUS, "base_dir": str(tmp_path / "base"), "models": list(MODELS),
                  "steps_model": "gpt2_private", "final_step": 40, "n_items": 2, "top_k": 3,
                  "ig": {"steps": 4, "rule": "left", "objective": "prob"}}, tmp_path / "dyn")
    assert d["trajectory"]["steps"] == [20, 40]
    assert set(d["growth"]) == {"steps_exposure_spearman", "steps_mass_spearman", "size_exposure_ratio",
                                "size_mass_ratio"}
