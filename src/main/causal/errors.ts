/** Bad input to `design causal` or `analyze causal`: what happened; nothing was written. */
export class CausalInputError extends Error {
  constructor(
    readonly code: "model" | "unit" | "bank" | "option" | "session" | "output",
    message: string,
  ) {
    super(`${message} Nothing was written.`);
    this.name = "CausalInputError";
  }
}
