// What the review UI shows of a compact model (types only: the renderer imports them).

export interface CompactModelDetail {
  id: number;
  name: string;
  /** The ensemble it was distilled from; null for an imported (published) model. */
  teacherId: number | null;
  unit: { sessionId: number; sessionName: string; name: string; column: number } | null;
  /** Where an imported model came from (its file name). */
  source: string | null;
  filters: number[];
  filtersBeforePruning: number[] | null;
  parameters: number;
  /** Squared correlation with the teacher on held-out images (and before pruning). */
  r2Teacher: number | null;
  r2TeacherBeforePruning: number | null;
  /** Against the recorded responses on held-out images: the student's and the ensemble's. */
  recorded: { metric: "r2er" | "r2raw"; student: number | null; teacher: number | null; images: number } | null;
  /**
   * Layer 0's filters as small RGB pictures: K0 × 5 × 5 × 3 values 0..255, each filter scaled to its own largest weight
   * (grey = 0).
   */
  layer0: { count: number; size: number; pixels0to255: number[] };
  /**
   * Where the unit looks: the readout's weight magnitude per position (root of the sum of squares over layer-4
   * filters), side × side, row-major.
   */
  readoutMap: { side: number; values: number[] };
}
