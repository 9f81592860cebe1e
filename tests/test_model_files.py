"""The embedding model's files are checked against pinned sha256 values before use."""

import hashlib
import shutil

import numpy as np
import pytest

from paperfeed.errors import PaperfeedError
from paperfeed.index.embedder import (
    MODEL_SHA256,
    TOKENIZER_SHA256,
    Embedder,
    model_files,
    verify_model_files,
)


def test_the_installed_files_are_the_pinned_ones():
    model, tokenizer = model_files()
    verify_model_files(model, tokenizer)  # raises if either differs
    assert hashlib.sha256(tokenizer.read_bytes()).hexdigest() == TOKENIZER_SHA256


@pytest.mark.parametrize("which", ["model", "tokenizer"])
def test_a_corrupted_file_is_one_clear_error_naming_it_and_both_hashes(tmp_path, which):
    model, tokenizer = model_files()
    copies = {"model": tmp_path / "model.onnx", "tokenizer": tmp_path / "tokenizer.json"}
    shutil.copyfile(model, copies["model"])
    shutil.copyfile(tokenizer, copies["tokenizer"])
    data = bytearray(copies[which].read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    copies[which].write_bytes(bytes(data))
    found = hashlib.sha256(data).hexdigest()
    expected = MODEL_SHA256 if which == "model" else TOKENIZER_SHA256
    with pytest.raises(PaperfeedError) as error:
        Embedder(files=(copies["model"], copies["tokenizer"]))
    message = str(error.value)
    assert "\n" not in message
    assert str(copies[which]) in message
    assert found in message and expected in message
    other = copies["tokenizer" if which == "model" else "model"]
    assert str(other) not in message


def test_a_missing_file_is_a_clear_error(tmp_path):
    model, _ = model_files()
    with pytest.raises(PaperfeedError, match=r"tokenizer\.json: cannot read it"):
        Embedder(files=(model, tmp_path / "tokenizer.json"))


def test_embedders_share_the_loaded_model_but_each_keeps_its_own_cut():
    """The model is verified and loaded once per process for each set of options; the
    tokenizer, which holds the truncation, is each embedder's own."""
    short, long = Embedder(max_tokens=16), Embedder(max_tokens=256)
    assert short.session is long.session
    assert Embedder(bulk=True).session is not short.session  # other options: another load
    text = "graph neural networks for molecules " * 60
    first, other, again = short.embed([text]), long.embed([text]), short.embed([text])
    assert np.array_equal(first, again)
    assert not np.allclose(first, other, atol=1e-3)
