// Replacing one of the wasm runtime's own kernels while keeping it for the cases the replacement
// does not cover.
import { getKernel } from "@tensorflow/tfjs";
import type {
  KernelBackend,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from "@tensorflow/tfjs";

export type KernelArgs = { inputs: NamedTensorInfoMap; backend: KernelBackend; attrs?: NamedAttrMap };

/** The runtime's own kernel, called with the arguments a replacement was given. */
export type OriginalKernel = (args: KernelArgs) => TensorInfo;

const made = new Map<string, KernelConfig[]>();

/**
 * The config replacing wasm's kernel `name` (made once): `fast` returns the result, or undefined to
 * hand the call to the runtime's own kernel, which it is also given to run part of the work. Empty
 * where the runtime has no such kernel. The original setupFunc is kept: if the backend is ever
 * re-initialized, wasm's kernel must be wired up again.
 */
export function wasmOverride(
  name: string,
  fast: (args: KernelArgs, original: OriginalKernel) => TensorInfo | undefined,
): KernelConfig[] {
  const known = made.get(name);
  if (known !== undefined) return known;
  const kernel = getKernel(name, "wasm");
  if (kernel === undefined) return [];
  const original: OriginalKernel = (args) => kernel.kernelFunc(args as Parameters<KernelFunc>[0]) as TensorInfo;
  const kernelFunc = (args: KernelArgs): TensorInfo => fast(args, original) ?? original(args);
  const configs: KernelConfig[] = [
    {
      kernelName: name,
      backendName: "wasm",
      setupFunc: kernel.setupFunc,
      kernelFunc: kernelFunc as unknown as KernelFunc,
    },
  ];
  made.set(name, configs);
  return configs;
}
