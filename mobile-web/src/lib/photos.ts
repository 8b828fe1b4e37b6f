// Photos are made smaller on the phone before they are kept or sent: a camera's 12-megapixel
// picture is several MB, too much for a weak signal and for the phone's offline store.

export const MAX_EDGE = 1600;
const QUALITY = 0.82;

export interface PreparedPhoto {
  data: ArrayBuffer;
  type: string;
}

/** `file` as a JPEG at most MAX_EDGE pixels on its longer side (EXIF orientation applied);
 *  the original bytes when the browser cannot decode it (the server also takes HEIC). */
export async function preparePhoto(file: Blob): Promise<PreparedPhoto> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return { data: await file.arrayBuffer(), type: file.type || "application/octet-stream" };
  }
  const scale = Math.min(1, MAX_EDGE / Math.max(bitmap.width, bitmap.height));
  const width = Math.round(bitmap.width * scale);
  const height = Math.round(bitmap.height * scale);
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext("2d");
  if (!context) return { data: await file.arrayBuffer(), type: file.type };
  context.drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: QUALITY });
  return { data: await blob.arrayBuffer(), type: "image/jpeg" };
}
