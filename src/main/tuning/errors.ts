/** Bad input to `design tuning`: what happened; nothing was written. */
export class TuningInputError extends Error {
  constructor(
    readonly code: "sweep" | "option" | "output",
    message: string,
  ) {
    super(`${message} Nothing was written.`);
    this.name = "TuningInputError";
  }
}
