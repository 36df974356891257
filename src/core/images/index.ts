export { type DownloadImageOptions, type DownloadRefusal, downloadImage } from './download.js';
export {
  DEFAULT_DOWNLOAD_RETRY_MS,
  type DownloadRetryOptions,
  downloadWithRetry,
} from './download-with-retry.js';
export { type FitImageOptions, type FittedImage, fitImage, type ImageChange } from './fit.js';
export {
  describeImage,
  detectImageType,
  type ImageFile,
  type ImageMime,
  MAX_INPUT_PIXELS,
} from './image-type.js';
export {
  type InputImage,
  MAX_IMAGE_FILE_BYTES,
  MAX_INPUT_IMAGE_BYTES,
  type PreparedInputImage,
  type PrepareInputImageOptions,
  prepareInputImage,
  type ReadImageFileOptions,
  readImageFile,
} from './input-image.js';
