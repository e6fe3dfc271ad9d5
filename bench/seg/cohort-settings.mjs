// The CPU-sized stage-1 recipe measured by `pnpm bench:seg` (cohort-job.mjs) and reused by
// `pnpm bench:cmc --masks stage1` (bench/cmc/stage1.mjs): a phantom COVID-19-CT-Seg cohort of 20
// scans (5 held out), U-Net++ / ResNet-34 at width 1/8 on 128 x 128 slices, batch 8, SGD lr 0.1
// (the paper's 1e-3 is for ImageNet-initialised encoders and hardly moves random weights in a
// CPU-sized run), 14 lung and 10 lesion epochs.
export const SEG_COHORT_SETTINGS = {
  scans: 20,
  valScans: 5,
  size: 128,
  slices: [24, 32],
  model: { arch: 'unetplusplus', encoder: 'resnet34', width: 0.125 },
  input: [128, 128],
  batchSize: 8,
  lr: 0.1,
  epochs: { lung: 14, lesion: 10 },
};
