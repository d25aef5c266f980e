"""Memory of video_extract_frames_mapper with `all` frames (issue 15.6): peak RSS growth vs the JPEG bytes written.

    PYTHONPATH=$PWD python tools/bench_frames_memory.py [--seconds 180] [--size 640x360]

Encodes a synthetic clip frame by frame (nothing held), then extracts every frame in this process and
reports how much the peak resident memory grew while doing so, next to the total size of the JPEGs written.
A mapper that holds the frames until the video ends grows by at least the JPEG total; one that streams them
to disk grows by a constant.
"""

import argparse
import os
import resource
import tempfile

import av
import numpy as np


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def encode_clip(path: str, seconds: int, width: int, height: int, fps: int = 24) -> None:
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (height, width * 2, 3), dtype=np.uint8)
    with av.open(path, "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(seconds * fps):
            x = (i * 3) % width
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(texture[:, x : x + width]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=180)
    parser.add_argument("--size", default="640x360")
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    from djlite.ops.mapper.video_extract_frames_mapper import VideoExtractFramesMapper

    with tempfile.TemporaryDirectory(prefix="bench-frames-") as tmp:
        clip = os.path.join(tmp, "clip.mp4")
        encode_clip(clip, args.seconds, width, height)
        # Warm-up on the same video with one frame: imports, codec, first allocations, but no pile of JPEGs.
        warm = VideoExtractFramesMapper(frame_sampling_method="uniform", frame_num=1, frame_dir=f"{tmp}/warm")
        warm.process({"videos": [clip]})
        op = VideoExtractFramesMapper(frame_sampling_method="all", frame_dir=os.path.join(tmp, "frames"))
        before = peak_mb()
        (frames,) = op.process({"videos": [clip]})["video_frames"]
        grown = peak_mb() - before
        jpeg_mb = sum(os.path.getsize(f) for f in frames) / 2**20
        print(
            f"{args.seconds} s {width}x{height}: {len(frames)} frames, JPEGs {jpeg_mb:.0f} MB; "
            f"peak RSS {before:.0f} MB -> {before + grown:.0f} MB (+{grown:.0f} MB)"
        )


if __name__ == "__main__":
    main()
