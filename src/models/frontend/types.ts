import type * as tf from "@tensorflow/tfjs";

export type Preprocess =
  /** MobileNet / Inception: pixels / 127.5 − 1. */
  | "scale-minus-one-to-one"
  /** Keras ResNet50 ("caffe"): RGB → BGR, minus the ImageNet channel means, no scaling. */
  | "caffe"
  /** Pixels 0..255 as they are. */
  | "none";

/**
 * A frozen feature extractor: images in, a feature map out. Never trained here; the ensemble and
 * readouts learn on top of it.
 */
export interface FrontEnd {
  /** Says what it is and where it is cut, e.g. `mobilenet_v2(imagenet, nsfwjs 4.4.0)@block_9_add`. */
  readonly name: string;
  /** True for a network trained on a task with natural images; false for the Gabor fallback. */
  readonly taskDriven: boolean;
  readonly description: string;
  /** Side of the square input the network sees; images are resized to it. */
  readonly inputSize: number;
  /** [height, width, channels] of one image's features. */
  readonly outputShape: readonly [number, number, number];
  /** Images [N, S, S, 3] RGB 0..255 (any S) → features [N, h, w, c]. Caller disposes the result. */
  apply(images0to255: tf.Tensor4D): tf.Tensor4D;
  dispose(): void;
}

export function preprocess(tfm: typeof tf, x: tf.Tensor4D, how: Preprocess): tf.Tensor4D {
  switch (how) {
    case "scale-minus-one-to-one":
      return tfm.sub(tfm.div(x, 127.5), 1) as tf.Tensor4D;
    case "caffe": {
      const bgr = tfm.reverse(x, -1);
      return tfm.sub(bgr, tfm.tensor1d([103.939, 116.779, 123.68])) as tf.Tensor4D;
    }
    case "none":
      return x;
  }
}
