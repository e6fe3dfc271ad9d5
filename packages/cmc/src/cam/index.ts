export {
  type CamLayer,
  type ClassActivation,
  type ClassActivationOptions,
  classActivationMap,
  classActivationVolume,
  normaliseCam,
  type RawClassActivation,
} from './cam.js';
export { type CamMontageOptions, camCaption, writeCamMontage } from './montage.js';
