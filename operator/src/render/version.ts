/**
 * The mizzen release this renderer belongs to: the default tag of the node agent image. Kept equal to
 * package.json's version (a unit test checks it); render is pure and does not read files.
 */
export const MIZZEN_VERSION = '0.1.0';

/** Where mizzen's own image lives unless values.cni.hub / values.cni.image say otherwise. */
export const MIZZEN_HUB = 'ghcr.io/mizzen';
export const MIZZEN_IMAGE = 'mizzen';

/** The Istio release whose defaults (hub, tag, charts) the profiles follow. */
export const ISTIO_HUB = 'docker.io/istio';
export const ISTIO_TAG = '1.11.0';
