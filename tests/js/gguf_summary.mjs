// Print what Hugging Face's GGUF parser (an independent reader, @huggingface/gguf)
// reads from a local GGUF file, as JSON: the architecture, its block count and
// every tensor's name, shape and type. usage: node gguf_summary.mjs FILE.gguf
import { gguf } from "@huggingface/gguf";

const { metadata, tensorInfos } = await gguf(process.argv[2], { allowLocalFile: true });
const arch = metadata["general.architecture"];
console.log(JSON.stringify({
  architecture: arch,
  block_count: Number(metadata[`${arch}.block_count`]),
  tensors: tensorInfos.map((t) => ({ name: t.name, shape: t.shape.map(Number), type: t.dtype })),
}));
