export function registerWasmGradientKernels(): void {}
