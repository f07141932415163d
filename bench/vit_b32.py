"""A ViT-B/32 CLIP with random weights, built without torch, in Immich's folder layout.

The graphs follow open_clip's ViT-B-32 exactly as Immich exports it (batch 1,
L2-normalised outputs named `embedding`):

* visual: conv patch embedding 32x32 stride 32 (768 channels), class token,
  positional embedding (50 x 768), ln_pre, 12 pre-LN residual blocks (width
  768, 12 heads, MLP 3072 with QuickGELU), ln_post on the class token,
  projection to 512;
* textual: token embedding (49408 x 512), positional embedding (77 x 512),
  causal mask, 12 pre-LN blocks (width 512, 8 heads, MLP 2048, QuickGELU),
  ln_final, the end-of-text token (argmax of the ids), projection to 512;
* tokenizer.json: a byte-level BPE with CLIP's vocabulary size (49408) and
  start/end tokens, so loading it costs what loading CLIP's does.

Weights are random (the figures measure cost, not quality). The folder is
cached in bench/.cache/ (~600 MB) and reused.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

CACHE = Path(__file__).parent / ".cache" / "ViT-B-32-random"
OPSET = 17
VOCAB = 49408
CONTEXT = 77
PREPROCESS = {"size": [224, 224], "mode": "RGB", "mean": [0.48145466, 0.4578275, 0.40821073],
              "std": [0.26862954, 0.26130258, 0.27577711], "interpolation": "bicubic", "resize_mode": "shortest",
              "fill_color": 0}
CONFIG = {"embed_dim": 512, "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
          "text_cfg": {"context_length": CONTEXT, "vocab_size": VOCAB, "width": 512, "heads": 8, "layers": 12}}


class _Graph:
    """Nodes and initializers with generated names."""

    def __init__(self, seed: int) -> None:
        self.nodes: list = []
        self.weights: list = []
        self.rng = np.random.default_rng(seed)
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def weight(self, hint: str, shape, scale: float = 0.02, value=None) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        array = value if value is not None else (self.rng.standard_normal(shape, dtype=np.float32) * scale)
        self.weights.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str = "", **attributes) -> str:
        from onnx import helper

        output = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [output], **attributes))
        return output

    def layer_norm(self, x: str, width: int) -> str:
        scale = self.weight("ln_w", None, value=np.ones(width, dtype=np.float32))
        bias = self.weight("ln_b", None, value=np.zeros(width, dtype=np.float32))
        return self.op("LayerNormalization", [x, scale, bias], axis=-1, epsilon=1e-5)

    def linear(self, x: str, width_in: int, width_out: int) -> str:
        w = self.weight("w", (width_in, width_out))
        b = self.weight("b", None, value=np.zeros(width_out, dtype=np.float32))
        return self.op("Add", [self.op("MatMul", [x, w]), b])

    def quick_gelu(self, x: str) -> str:
        factor = self.weight("gelu", None, value=np.asarray(1.702, dtype=np.float32))
        return self.op("Mul", [x, self.op("Sigmoid", [self.op("Mul", [x, factor])])])

    def attention(self, x: str, tokens: int, width: int, heads: int, mask: str | None) -> str:
        head = width // heads
        qkv = self.linear(x, width, 3 * width)
        shape = self.weight("shape", None, value=np.asarray([1, tokens, 3, heads, head], dtype=np.int64))
        qkv = self.op("Transpose", [self.op("Reshape", [qkv, shape])], perm=[2, 0, 3, 1, 4])  # 3,1,h,t,d
        parts = []
        for index in range(3):
            picked = self.op("Gather", [qkv, self.weight("i", None, value=np.asarray(index, dtype=np.int64))], axis=0)
            parts.append(picked)
        q, k, v = parts
        scale = self.weight("scale", None, value=np.asarray(head ** -0.5, dtype=np.float32))
        scores = self.op("MatMul", [self.op("Mul", [q, scale]), self.op("Transpose", [k], perm=[0, 1, 3, 2])])
        if mask is not None:
            scores = self.op("Add", [scores, mask])
        out = self.op("MatMul", [self.op("Softmax", [scores], axis=-1), v])
        back = self.weight("shape", None, value=np.asarray([1, tokens, width], dtype=np.int64))
        out = self.op("Reshape", [self.op("Transpose", [out], perm=[0, 2, 1, 3]), back])
        return self.linear(out, width, width)

    def block(self, x: str, tokens: int, width: int, heads: int, mask: str | None = None) -> str:
        x = self.op("Add", [x, self.attention(self.layer_norm(x, width), tokens, width, heads, mask)])
        hidden = self.quick_gelu(self.linear(self.layer_norm(x, width), width, 4 * width))
        return self.op("Add", [x, self.linear(hidden, 4 * width, width)])

    def normalize(self, x: str) -> str:
        return self.op("Div", [x, self.op("ReduceL2", [x], axes=[-1], keepdims=1)])


def visual_model():
    from onnx import TensorProto, helper

    g = _Graph(seed=1)
    patches = g.op("Conv", ["image", g.weight("conv1", (768, 3, 32, 32))], strides=[32, 32], kernel_shape=[32, 32])
    flat = g.op("Reshape", [patches, g.weight("shape", None, value=np.asarray([1, 768, 49], dtype=np.int64))])
    tokens = g.op("Transpose", [flat], perm=[0, 2, 1])
    cls = g.weight("class_embedding", (1, 1, 768))
    x = g.op("Concat", [cls, tokens], axis=1)
    x = g.op("Add", [x, g.weight("positional_embedding", (50, 768), scale=0.01)])
    x = g.layer_norm(x, 768)
    for _ in range(12):
        x = g.block(x, 50, 768, 12)
    first = g.op("Gather", [x, g.weight("i", None, value=np.asarray(0, dtype=np.int64))], axis=1)  # 1, 768
    x = g.op("MatMul", [g.layer_norm(first, 768), g.weight("proj", (768, 512))])
    out = g.normalize(x)
    g.nodes.append(helper.make_node("Identity", [out], ["embedding"]))
    graph = helper.make_graph(g.nodes, "visual", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 224, 224])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 512])], initializer=g.weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def textual_model():
    from onnx import TensorProto, helper

    g = _Graph(seed=2)
    x = g.op("Gather", [g.weight("token_embedding", (VOCAB, 512)), "text"], axis=0)  # 1, 77, 512
    x = g.op("Add", [x, g.weight("positional_embedding", (CONTEXT, 512), scale=0.01)])
    mask = g.weight("mask", None, value=np.triu(np.full((CONTEXT, CONTEXT), -np.inf, dtype=np.float32), 1))
    for _ in range(12):
        x = g.block(x, CONTEXT, 512, 8, mask)
    x = g.layer_norm(x, 512)
    end = g.op("ArgMax", [g.op("Cast", ["text"], to=TensorProto.FLOAT)], axis=-1, keepdims=0)  # 1
    picked = g.op("Gather", [x, end], axis=1)  # 1, 1, 512
    picked = g.op("Reshape", [picked, g.weight("shape", None, value=np.asarray([1, 512], dtype=np.int64))])
    out = g.normalize(g.op("MatMul", [picked, g.weight("text_projection", (512, 512))]))
    g.nodes.append(helper.make_node("Identity", [out], ["embedding"]))
    graph = helper.make_graph(g.nodes, "textual", [helper.make_tensor_value_info("text", TensorProto.INT32, [1, CONTEXT])],
                              [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [1, 512])], initializer=g.weights)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], ir_version=8)


def tokenizer():
    """Byte-level BPE with 49408 tokens: the 256 byte symbols, merges of random existing pairs, start/end."""
    from tokenizers import Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {symbol: index for index, symbol in enumerate(sorted(alphabet))}
    merges = []
    rng = random.Random(3)
    letters = sorted(alphabet)
    tokens = list(letters)
    while len(vocab) < VOCAB - 2:
        left = rng.choice(tokens[-2000:] if len(tokens) > 4000 and rng.random() < 0.5 else tokens)
        right = rng.choice(letters)
        merged = left + right
        if merged in vocab or len(merged) > 12:
            continue
        vocab[merged] = len(vocab)
        merges.append((left, right))
        tokens.append(merged)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    model = Tokenizer(BPE(vocab=vocab, merges=merges))
    model.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    model.decoder = decoders.ByteLevel()
    model.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>",
        special_tokens=[("<|startoftext|>", vocab["<|startoftext|>"]), ("<|endoftext|>", vocab["<|endoftext|>"])])
    return model


def build(folder: Path = CACHE) -> Path:
    """The model folder, built once (a minute or so) and then reused."""
    import onnx

    if (folder / "textual" / "tokenizer_config.json").is_file():
        return folder
    (folder / "visual").mkdir(parents=True, exist_ok=True)
    (folder / "textual").mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2))
    (folder / "visual" / "preprocess_cfg.json").write_text(json.dumps(PREPROCESS, indent=2))
    onnx.save(visual_model(), str(folder / "visual" / "model.onnx"))
    onnx.save(textual_model(), str(folder / "textual" / "model.onnx"))
    tokenizer().save(str(folder / "textual" / "tokenizer.json"))
    (folder / "textual" / "tokenizer_config.json").write_text(json.dumps(
        {"pad_token": "<|endoftext|>", "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
         "model_max_length": CONTEXT}, indent=2))
    return folder


if __name__ == "__main__":
    print(build())
