"""Tiny image–text models in exactly Immich's folder layout, built with onnx.helper.

They behave in a way a test can check: the image tower maps a photo's mean
colour to a direction (one per colour in COLOURS; grey and other dull colours
go to a NOTHING direction), and the text tower maps colour words (and a few
things of that colour, e.g. "strawberry") to the same directions, ignoring
every other word. So, through the real tokenizer, ONNX Runtime and
preprocessing, a red photo and the text "red" are near, and a grey photo is
near no colour.

    folder = build_tiny_clip(tmp_path / "tiny")                 # OpenCLIP style: `text` int32
    folder = build_tiny_clip(tmp_path / "m", multilingual=True) # M-CLIP style: input_ids + attention_mask

Used by photolib's own tests and by the stage / search tests of the image
space (configure `[image] model_path = folder`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (210, 30, 35),
    "green": (40, 160, 50),
    "blue": (35, 70, 210),
    "yellow": (235, 215, 40),
    "white": (245, 245, 245),
    "black": (12, 12, 12),
}
GREY = (128, 128, 128)  # goes to the NOTHING direction: "a photo of nothing in particular"
# Words the text tower knows, beyond the colour names: things of that colour,
# and (multilingual model) colour names in other languages.
THINGS = {"strawberry": "red", "forest": "green", "ocean": "blue", "banana": "yellow", "snow": "white", "night": "black"}
OTHER_LANGUAGES = {"rot": "red", "rouge": "red", "grün": "green", "vert": "green", "blau": "blue", "bleu": "blue",
                   "gelb": "yellow", "jaune": "yellow", "weiß": "white", "blanc": "white", "schwarz": "black", "noir": "black"}
NOTHING = len(COLOURS)  # index of the direction for grey and unknown words
DIMENSION = len(COLOURS) + 2  # one spare direction nobody uses
OPSET = 17
MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's, as in the real preprocess_cfg.json
STD = (0.26862954, 0.26130258, 0.27577711)


def direction(name: str) -> np.ndarray:
    """The unit vector a colour (or "nothing") maps to."""
    vector = np.zeros(DIMENSION, dtype=np.float32)
    vector[NOTHING if name == "nothing" else list(COLOURS).index(name)] = 1.0
    return vector


def build_tiny_clip(
    folder: Path,
    *,
    multilingual: bool = False,
    batch: int | None = 1,
    size: int = 32,
    context_length: int = 16,
    interpolation: str = "bicubic",
    resize_mode: str = "shortest",
    mean: tuple[float, float, float] = MEAN,
    std: tuple[float, float, float] = STD,
    text_dtype: str = "int32",
    siglip: bool = False,
) -> Path:
    """Write config.json, visual/ and textual/ like an immich-app repository; return the folder.

    `batch=1` fixes the batch dimension as Immich's exports do; `None` makes it
    dynamic. `siglip` marks the config the way SigLIP configs are marked
    (init_logit_bias, canonicalizing tokenizer).
    """
    folder = Path(folder)
    (folder / "visual").mkdir(parents=True, exist_ok=True)
    (folder / "textual").mkdir(parents=True, exist_ok=True)
    text_cfg: dict = {"context_length": context_length, "vocab_size": 0, "width": DIMENSION}
    config: dict = {"embed_dim": DIMENSION, "vision_cfg": {"image_size": size, "patch_size": size}, "text_cfg": text_cfg}
    if siglip:
        config["init_logit_bias"] = -10
        text_cfg["tokenizer_kwargs"] = {"clean": "canonicalize"}
    vocabulary = _vocabulary(multilingual)
    text_cfg["vocab_size"] = len(vocabulary)
    _write_json(folder / "config.json", config)
    _write_json(folder / "visual" / "preprocess_cfg.json", {
        "size": [size, size], "mode": "RGB", "mean": list(mean), "std": list(std),
        "interpolation": interpolation, "resize_mode": resize_mode, "fill_color": 0,
    })
    _save(_image_tower(batch, size, mean, std), folder / "visual" / "model.onnx")
    _save(_text_tower(vocabulary, context_length, multilingual, text_dtype), folder / "textual" / "model.onnx")
    _tokenizer(vocabulary).save(str(folder / "textual" / "tokenizer.json"))
    _write_json(folder / "textual" / "tokenizer_config.json", {
        "pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<start>", "eos_token": "<end>",
        "model_max_length": context_length, "tokenizer_class": "PreTrainedTokenizerFast",
    })
    return folder


def _vocabulary(multilingual: bool) -> dict[str, int]:
    words = ["<pad>", "<unk>", "<start>", "<end>", *COLOURS, *THINGS]
    if multilingual:
        words += list(OTHER_LANGUAGES)
    words += ["a", "photo", "of", "the", "picture", "."]  # known to the tokenizer, mapped to nothing
    return {word: index for index, word in enumerate(words)}


def _word_direction(word: str) -> np.ndarray:
    colour = word if word in COLOURS else THINGS.get(word) or OTHER_LANGUAGES.get(word)
    return direction(colour) if colour else np.zeros(DIMENSION, dtype=np.float32)


def _image_tower(batch: int | None, size: int, mean, std):
    from onnx import TensorProto, helper, numpy_helper

    prototypes = [np.asarray(rgb, dtype=np.float32) / 255.0 for rgb in (*COLOURS.values(), GREY)]
    prototypes = (np.stack(prototypes) - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)
    targets = np.stack([direction(name) for name in (*COLOURS, "nothing")])
    batch_dim = batch if batch else "batch"
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["colour"], axes=[2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["colour", "axis1"], ["colour3"]),
        helper.make_node("Sub", ["colour3", "prototypes"], ["difference"]),
        helper.make_node("Mul", ["difference", "difference"], ["squared"]),
        helper.make_node("ReduceSum", ["squared", "axis2"], ["distance"], keepdims=0),
        helper.make_node("Mul", ["distance", "sharpness"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["weights"], axis=1),
        helper.make_node("MatMul", ["weights", "targets"], ["mixed"]),
        helper.make_node("LpNormalization", ["mixed"], ["embedding"], axis=1, p=2),
    ]
    graph = helper.make_graph(
        nodes, "tiny_visual",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch_dim, 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch_dim, DIMENSION])],
        initializer=[
            numpy_helper.from_array(prototypes.astype(np.float32), "prototypes"),
            numpy_helper.from_array(targets.astype(np.float32), "targets"),
            numpy_helper.from_array(np.asarray(-4.0, dtype=np.float32), "sharpness"),
            numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axis1"),
            numpy_helper.from_array(np.asarray([2], dtype=np.int64), "axis2"),
        ],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def _text_tower(vocabulary: dict[str, int], context_length: int, multilingual: bool, text_dtype: str):
    from onnx import TensorProto, helper, numpy_helper

    table = np.stack([_word_direction(word) for word in vocabulary]).astype(np.float32)
    floor = np.zeros(DIMENSION, dtype=np.float32)
    floor[NOTHING] = 1e-3  # a text of unknown words only means "nothing in particular"
    id_type = TensorProto.INT64 if text_dtype == "int64" else TensorProto.INT32
    initializers = [
        numpy_helper.from_array(table, "table"),
        numpy_helper.from_array(floor, "floor"),
        numpy_helper.from_array(np.asarray([1], dtype=np.int64), "axis1"),
        numpy_helper.from_array(np.asarray([2], dtype=np.int64), "axis2"),
    ]
    if multilingual:  # M-CLIP: mean over the attention mask, then the projection (here: none)
        inputs = [helper.make_tensor_value_info("input_ids", id_type, [1, context_length]),
                  helper.make_tensor_value_info("attention_mask", id_type, [1, context_length])]
        nodes = [
            helper.make_node("Gather", ["table", "input_ids"], ["tokens"], axis=0),
            helper.make_node("Cast", ["attention_mask"], ["mask"], to=TensorProto.FLOAT),
            helper.make_node("Unsqueeze", ["mask", "axis2"], ["mask3"]),
            helper.make_node("Mul", ["tokens", "mask3"], ["kept"]),
            helper.make_node("ReduceSum", ["kept", "axis1"], ["summed"], keepdims=0),
            helper.make_node("ReduceSum", ["mask", "axis1"], ["count"], keepdims=1),
            helper.make_node("Div", ["summed", "count"], ["mean"]),
            helper.make_node("Add", ["mean", "floor"], ["lifted"]),
            helper.make_node("LpNormalization", ["lifted"], ["embedding"], axis=1, p=2),
        ]
    else:  # OpenCLIP: `text` only; padding rows of the table are zero
        inputs = [helper.make_tensor_value_info("text", id_type, [1, context_length])]
        nodes = [
            helper.make_node("Gather", ["table", "text"], ["tokens"], axis=0),
            helper.make_node("ReduceSum", ["tokens", "axis1"], ["summed"], keepdims=0),
            helper.make_node("Add", ["summed", "floor"], ["lifted"]),
            helper.make_node("LpNormalization", ["lifted"], ["embedding"], axis=1, p=2),
        ]
    graph = helper.make_graph(nodes, "tiny_textual", inputs,
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, DIMENSION])],
                              initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def _tokenizer(vocabulary: dict[str, int]):
    """A real `tokenizers` tokenizer: lower-casing, word-level, CLIP-like start/end tokens."""
    from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
    from tokenizers.models import WordLevel

    tokenizer = Tokenizer(WordLevel(vocab=vocabulary, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<start> $A <end>", special_tokens=[("<start>", vocabulary["<start>"]), ("<end>", vocabulary["<end>"])]
    )
    return tokenizer


def _save(model, path: Path) -> None:
    import onnx

    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")


def solid_photo(rgb: tuple[int, int, int], size: tuple[int, int] = (64, 48)):
    """A PIL image of one colour."""
    from PIL import Image

    return Image.new("RGB", size, rgb)


# -- a tiny model that sees stripe orientation, with CLIP's cosine ranges ------------------------------

ORIENTATIONS = ("horizontal", "vertical")
# Words the stripe model's text tower knows: every other word means nothing to it but noise.
STRIPE_WORDS = {"horizontal": "horizontal", "horizon": "horizontal", "vertical": "vertical", "upright": "vertical"}
# Directions of the stripe model's space: the two orientations, "nothing in particular", one direction only
# images have and one only texts have (CLIP's modality gap), one both share, and three of colour.
_H, _V, _N, _IMAGE, _TEXT, _SHARED = range(6)
_COLOUR = slice(6, 9)
STRIPE_DIMENSION = 10
# Squared weights in every vector: orientation, modality, shared, colour (photos: 0.44 + 0.32 + 0.16 + 0.08,
# texts: 0.058 + 0.78 + 0.16). A text and a photo of the same orientation sit at cos ~0.32, of different
# ones at ~0.16, as real CLIP ViT-B/32 pairs do (a good match ~0.3, an unrelated photo ~0.15-0.2); two
# photos of one orientation at ~0.95, of two at ~0.5 (CLIP: the same scene ~0.9, unrelated photos
# 0.4-0.6). A query word the model does not know adds noise that moves a photo by up to ~0.08 with its
# colour, so a query the model cannot answer still ranks photos, some within CLIP's threshold, as CLIP's do.
_OWN_IMAGE, _GAP_IMAGE, _COMMON, _NOISE = 0.44, 0.32, 0.16, 0.08
_OWN_TEXT = 0.16 ** 2 / _OWN_IMAGE  # own_text * own_image = 0.16: a match is 0.16 + 0.16
_GAP_TEXT = 1.0 - _OWN_TEXT - _COMMON
_UNKNOWN_WORD = np.asarray([0.6, 0.0, 0.8], dtype=np.float32)  # the noise direction of words it does not know


def stripe_vector(orientation: str, modality: str) -> np.ndarray:
    """The unit vector, colour left out, of a photo (`modality` "image") or a text ("text") about
    `orientation` ("horizontal", "vertical" or "nothing")."""
    vector = np.zeros(STRIPE_DIMENSION, dtype=np.float32)
    image = modality == "image"
    vector[{"horizontal": _H, "vertical": _V}.get(orientation, _N)] = (_OWN_IMAGE if image else _OWN_TEXT) ** 0.5
    vector[_IMAGE if image else _TEXT] = (_GAP_IMAGE if image else _GAP_TEXT) ** 0.5
    vector[_SHARED] = _COMMON ** 0.5
    return vector / np.linalg.norm(vector)


def build_tiny_stripe_clip(folder: Path, *, size: int = 32, context_length: int = 16) -> Path:
    """A CLIP-family model in Immich's layout that sees only which way a photo's stripes run.

    Image tower: the mean absolute difference between neighbouring rows (horizontal stripes) and
    between neighbouring columns (vertical stripes) of the normalised pixels, sharpened by a
    softmax against a floor, picks the photo's orientation ("nothing" for a photo without
    stripes); the photo's mean colour adds a little (`_NOISE`). Text tower: "horizontal" /
    "horizon" and "vertical" / "upright" point to the orientations; any other word only adds the
    noise direction once. Cosines are CLIP's (see `_OWN_IMAGE`), so a search through it has a
    real model's ranges: a match ~0.32, everything else ~0.16, a query of unknown words
    0.11-0.24; photo to photo ~0.95 for one orientation, ~0.5 for two.
    """
    from onnx import TensorProto, helper, numpy_helper

    folder = Path(folder)
    (folder / "visual").mkdir(parents=True, exist_ok=True)
    (folder / "textual").mkdir(parents=True, exist_ok=True)
    words = ["<pad>", "<unk>", "<start>", "<end>", *STRIPE_WORDS, "stripes", "striped", "a", "photo", "of", "the"]
    vocabulary = {word: index for index, word in enumerate(words)}
    _write_json(folder / "config.json", {"embed_dim": STRIPE_DIMENSION,
                                         "vision_cfg": {"image_size": size, "patch_size": size},
                                         "text_cfg": {"context_length": context_length, "vocab_size": len(words),
                                                      "width": STRIPE_DIMENSION}})
    _write_json(folder / "visual" / "preprocess_cfg.json", {
        "size": [size, size], "mode": "RGB", "mean": list(MEAN), "std": list(STD),
        "interpolation": "bicubic", "resize_mode": "shortest", "fill_color": 0,
    })
    targets = np.stack([stripe_vector(name, "image") for name in (*ORIENTATIONS, "nothing")]) * (1 - _NOISE) ** 0.5
    to_colour = np.zeros((3, STRIPE_DIMENSION), dtype=np.float32)
    to_colour[:, _COLOUR] = np.eye(3) * _NOISE ** 0.5
    grey = (np.full(3, 0.5, dtype=np.float32) - np.asarray(MEAN, dtype=np.float32)) / np.asarray(STD, dtype=np.float32)
    last = size - 1
    constants = {"r0": [0], "r1": [1], "rl": [last], "rs": [size], "ax1": [1], "ax2": [2], "ax3": [3]}
    nodes = [
        helper.make_node("ReduceMean", ["image"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("Slice", ["grey", "r1", "rs", "ax2"], ["below"]),
        helper.make_node("Slice", ["grey", "r0", "rl", "ax2"], ["above"]),
        helper.make_node("Sub", ["below", "above"], ["dy"]),
        helper.make_node("Abs", ["dy"], ["ady"]),
        helper.make_node("ReduceMean", ["ady"], ["rows"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Slice", ["grey", "r1", "rs", "ax3"], ["right"]),
        helper.make_node("Slice", ["grey", "r0", "rl", "ax3"], ["left"]),
        helper.make_node("Sub", ["right", "left"], ["dx"]),
        helper.make_node("Abs", ["dx"], ["adx"]),
        helper.make_node("ReduceMean", ["adx"], ["columns"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Mul", ["rows", "zero"], ["nil"]),
        helper.make_node("Add", ["nil", "floor"], ["flat"]),
        helper.make_node("Unsqueeze", ["rows", "ax1"], ["rows2"]),
        helper.make_node("Unsqueeze", ["columns", "ax1"], ["columns2"]),
        helper.make_node("Unsqueeze", ["flat", "ax1"], ["flat2"]),
        helper.make_node("Concat", ["rows2", "columns2", "flat2"], ["strength"], axis=1),
        helper.make_node("Mul", ["strength", "sharpness"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["weights"], axis=1),
        helper.make_node("MatMul", ["weights", "targets"], ["oriented"]),
        helper.make_node("ReduceMean", ["image"], ["colour"], axes=[2, 3], keepdims=0),
        helper.make_node("Sub", ["colour", "centre"], ["tint"]),
        helper.make_node("LpNormalization", ["tint"], ["hue"], axis=1, p=2),
        helper.make_node("MatMul", ["hue", "to_colour"], ["coloured"]),
        helper.make_node("Add", ["oriented", "coloured"], ["mixed"]),
        helper.make_node("LpNormalization", ["mixed"], ["embedding"], axis=1, p=2),
    ]
    initializers = [numpy_helper.from_array(np.asarray(value, dtype=np.int64), name) for name, value in constants.items()]
    initializers += [
        numpy_helper.from_array(targets.astype(np.float32), "targets"),
        numpy_helper.from_array(to_colour, "to_colour"),
        numpy_helper.from_array(grey.reshape(1, 3), "centre"),
        numpy_helper.from_array(np.asarray(0.0, dtype=np.float32), "zero"),
        numpy_helper.from_array(np.asarray(0.08, dtype=np.float32), "floor"),  # below this, no stripes
        numpy_helper.from_array(np.asarray(60.0, dtype=np.float32), "sharpness"),
    ]
    graph = helper.make_graph(
        nodes, "tiny_stripes_visual",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, STRIPE_DIMENSION])],
        initializer=initializers,
    )
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8),
          folder / "visual" / "model.onnx")
    table = np.zeros((len(words), STRIPE_DIMENSION), dtype=np.float32)  # every row >= 0: the tower takes the max
    for word, orientation in STRIPE_WORDS.items():
        table[vocabulary[word], {"horizontal": _H, "vertical": _V}[orientation]] = _OWN_TEXT ** 0.5
    table[vocabulary["<unk>"], _COLOUR] = _UNKNOWN_WORD * _NOISE ** 0.5
    base = np.zeros(STRIPE_DIMENSION, dtype=np.float32)  # what every text has: no orientation at all
    base[_TEXT], base[_SHARED] = _GAP_TEXT ** 0.5, _COMMON ** 0.5
    text_nodes = [
        helper.make_node("Gather", ["table", "text"], ["tokens"], axis=0),
        helper.make_node("ReduceMax", ["tokens"], ["strongest"], axes=[1], keepdims=0),
        helper.make_node("Add", ["strongest", "base"], ["lifted"]),
        helper.make_node("LpNormalization", ["lifted"], ["embedding"], axis=1, p=2),
    ]
    text_graph = helper.make_graph(
        text_nodes, "tiny_stripes_textual",
        [helper.make_tensor_value_info("text", TensorProto.INT32, [1, context_length])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, STRIPE_DIMENSION])],
        initializer=[numpy_helper.from_array(table, "table"), numpy_helper.from_array(base, "base")],
    )
    _save(helper.make_model(text_graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8),
          folder / "textual" / "model.onnx")
    _tokenizer(vocabulary).save(str(folder / "textual" / "tokenizer.json"))
    _write_json(folder / "textual" / "tokenizer_config.json", {
        "pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<start>", "eos_token": "<end>",
        "model_max_length": context_length, "tokenizer_class": "PreTrainedTokenizerFast",
    })
    return folder


def striped_photo(orientation: str | None, size: tuple[int, int] = (320, 240), colours=((235, 235, 225), (40, 45, 60)),
                  width: int = 24):
    """A PIL image of stripes running `orientation` ("horizontal" / "vertical"), or plain (None)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", size, colours[0])
    if orientation is None:
        return image
    draw = ImageDraw.Draw(image)
    extent = size[1] if orientation == "horizontal" else size[0]
    for start in range(0, extent, 2 * width):
        box = [0, start, size[0], start + width - 1] if orientation == "horizontal" else [start, 0, start + width - 1, size[1]]
        draw.rectangle(box, fill=colours[1])
    return image
