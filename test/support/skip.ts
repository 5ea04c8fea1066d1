/**
 * The `skip` option of a test that needs a real server (or a privilege) this
 * machine may lack: skipped with `reason` when it is missing, except under
 * CI=true, where .ci/run has installed everything, so the test runs and a
 * missing dependency fails it instead of hiding it.
 */
export function skipUnlessCI(available: boolean, reason: string): string | false {
  return !available && process.env.CI !== 'true' ? reason : false;
}
