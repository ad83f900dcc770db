"""The artifact core: claims, evidence, exploration graph and review. Knows no method; imports no torch.

schema (pydantic models, the contract) · load (safe YAML, one-line errors) · config (scale + paper config) ·
evidence (paths, hashes, DVC under a lock) · exploration (nodes, run recording, interrupted runs) ·
review (static checks, verdicts) · validation (JSON Schemas) · explain · workflow (Snakefile helpers).
"""
