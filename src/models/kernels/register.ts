// Registers the gradient kernels the wasm backend lacks (and a faster Conv2DBackpropInput).
import { getKernel, registerKernel, unregisterKernel } from "@tensorflow/tfjs";
import type { KernelConfig } from "@tensorflow/tfjs";
import { registerBatchNormGradient } from "./batchnorm_grad.js";
import { conv2dBackpropFilterConfig } from "./conv2d_backprop_filter.js";
import { conv2dBackpropInputConfig } from "./conv2d_backprop_input.js";
import { depthwiseConv2dBackpropFilterConfig } from "./depthwise_conv2d_backprop_filter.js";
import { depthwiseConv2dBackpropInputConfig } from "./depthwise_conv2d_backprop_input.js";
import { depthwiseConv2dConfigs } from "./depthwise_conv2d.js";
import { batchNormConfigs } from "./batchnorm.js";
import { gatherConfigs } from "./gather.js";
import { sharedBufferConfigs } from "./identity.js";
import { reduceLeadingConfigs } from "./reduce_leading.js";

export const WASM_GRADIENT_KERNELS: readonly KernelConfig[] = [
  conv2dBackpropFilterConfig,
  conv2dBackpropInputConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
];

/**
 * Idempotent; replaces wasm's scalar Conv2DBackpropInput with the XNNPACK-based one, and wasm's
 * Sum/Mean with versions that reduce NHWC over [N, H, W] without a transpose, and wasm's copying
 * Identity and same-dtype Cast (every tensor saved for backprop is cloned) with ones that share the buffer,
 * wasm's per-element GatherV2 with one that copies whole slices,, its FusedBatchNorm with one SIMD
 * multiply-add per element, and its stride-2 5x5 depthwise convolution with a SIMD kernel (where the
 * SIMD kernels run).
 */
export function registerWasmGradientKernels(): void {
  for (const config of [
    ...WASM_GRADIENT_KERNELS,
    ...reduceLeadingConfigs(),
    ...sharedBufferConfigs(),
    ...gatherConfigs(),
    ...batchNormConfigs(),
    ...depthwiseConv2dConfigs(),
  ]) {
    const existing = getKernel(config.kernelName, config.backendName);
    if (existing === config) continue;
    if (existing !== undefined) unregisterKernel(config.kernelName, config.backendName);
    registerKernel(config);
  }
  registerBatchNormGradient();
}
