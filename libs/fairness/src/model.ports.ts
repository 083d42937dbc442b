/**
 * What the model card needs from consent's read models, wired by the app (libs/contexts):
 * fairness depends on no consent code.
 */
export abstract class TrainingConsent {
  /**
   * Of the patients whose images these are (in this dataset), how many there are, and which
   * of them withdrew AI_TRAINING consent after global sequence `since` (the snapshot's).
   */
  abstract since(datasetId: string, imageIds: readonly string[], since: number): Promise<{ patients: number; withdrawn: string[] }>;
}
