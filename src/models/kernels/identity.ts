// Identity (and same-dtype Cast) for wasm without a copy. The engine clones every tensor it saves
// for backprop and the ReLU gradient casts float32 to float32; wasm copies the whole buffer for
// both (time, and a second copy of every saved activation). Tensors are immutable (variables swap
// buffers on assign), so sharing the buffer with a reference count is safe; it is what the cpu
// backend does and what wasm's own Reshape does.
import { Cast, getKernel, Identity } from "@tensorflow/tfjs";
import type {
  KernelBackend,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from "@tensorflow/tfjs";

let configs: KernelConfig[] | undefined;

export function sharedBufferConfigs(): KernelConfig[] {
  if (configs !== undefined) return configs;
  const made: KernelConfig[] = [];
  for (const name of [Identity, Cast]) {
    const original = getKernel(name, "wasm");
    if (original === undefined) continue;
    const kernelFunc = (args: {
      inputs: NamedTensorInfoMap;
      backend: KernelBackend;
      attrs?: NamedAttrMap;
    }): TensorInfo => {
      const { x } = args.inputs;
      const dtype = name === Cast ? (args.attrs as { dtype?: string } | undefined)?.dtype : x?.dtype;
      if (x === undefined || x.dtype === "string" || dtype !== x.dtype)
        return original.kernelFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
      args.backend.incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    };
    made.push({
      kernelName: name,
      backendName: "wasm",
      setupFunc: original.setupFunc,
      kernelFunc: kernelFunc as unknown as KernelFunc,
    });
  }
  configs = made;
  return configs;
}
