/**
 * Why a model version cannot predict a session, from a closed set. No dependencies, so the API's contract (which the
 * renderer imports) can name it.
 */
export type PredictRefusal =
  | "no-model"
  | "not-ensemble"
  | "no-weights"
  | "no-front-end"
  | "load-failed"
  | "front-end"
  | "no-readout"
  | "units-mismatch"
  | "images"
  | "input";
