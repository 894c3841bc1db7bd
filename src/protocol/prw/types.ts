// The decoded view of a Prometheus remote-write 1.0 WriteRequest. Nothing is copied out
// of the body: every series, label name and label value is a byte range of `buf`.
// The typed arrays belong to the decoder and are reused by its next decode() call, so
// a view must be consumed (routed) before the decoder is used again.

/** Field offsets inside one series entry of WriteRequestView.series. */
export const S_START = 0; // offset of the TimeSeries field tag (0x0a) in buf
export const S_END = 1; // offset just past the TimeSeries bytes
export const S_LABEL_FIRST = 2; // index of its first label in WriteRequestView.labels (in label units)
export const S_LABEL_COUNT = 3; // number of labels
export const S_SAMPLE_COUNT = 4; // number of float samples
export const S_HISTOGRAM_COUNT = 5; // number of native histogram samples (forwarded as is)
export const S_DROP = 6; // 0 = keep, otherwise a DropReason
export const SERIES_STRIDE = 7;

/** Field offsets inside one label entry of WriteRequestView.labels. */
export const L_NAME_START = 0;
export const L_NAME_END = 1;
export const L_VALUE_START = 2;
export const L_VALUE_END = 3;
export const LABEL_STRIDE = 4;

/** Why a single series was dropped while the rest of the request was accepted. */
export const enum DropReason {
  None = 0,
  TooManyLabels = 1,
  LabelNameTooLong = 2,
  LabelValueTooLong = 3,
}
export const DROP_REASON_NAMES = ['none', 'too_many_labels', 'label_name_too_long', 'label_value_too_long'] as const;

export interface SeriesLimits {
  /** -maxLabelsPerTimeseries */
  maxLabelsPerTimeseries: number;
  /** -maxLabelNameLen (bytes) */
  maxLabelNameLen: number;
  /** -maxLabelValueLen (bytes) */
  maxLabelValueLen: number;
}

export interface WriteRequestView {
  /** The uncompressed protobuf bytes. */
  buf: Buffer;
  seriesCount: number;
  /** SERIES_STRIDE entries per series. */
  series: Int32Array;
  /** LABEL_STRIDE entries per label, all series one after the other. */
  labels: Int32Array;
  /** Float samples over all kept series. */
  sampleCount: number;
  /** Histogram samples over all kept series. */
  histogramCount: number;
  /** Series dropped by limits, by DropReason index. */
  droppedSeries: Uint32Array;
  /** Samples in dropped series. */
  droppedSamples: number;
  /** Smallest and largest sample timestamp (ms) over kept series; 0 when there are none. */
  minTimestamp: number;
  maxTimestamp: number;
  /** Number of MetricMetadata entries (field 3); they are not forwarded. */
  metadataCount: number;
}
