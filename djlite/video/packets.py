"""Compressed-packet hashing: Data-Juicer's exact video hash, without decoding."""

import hashlib

import av

from djlite.errors import VideoError
from djlite.video.probe import first_video_stream, open_container


def video_packets_md5(paths: list[str], md5=None):
    """md5 over the compressed bytes of every video-stream packet of each unique path, in first-seen order.

    This is Data-Juicer's exact video hash: audio and container metadata do not count, so a re-muxed file
    with the same bitstream collides, while any re-encode does not.
    """
    md5 = md5 or hashlib.md5()
    for path in dict.fromkeys(paths):
        with open_container(path) as container:
            first_video_stream(container, path)
            packets = 0
            try:
                for packet in container.demux():
                    # Every video stream counts (multi-stream files), as in Data-Juicer; the flush packets
                    # demux yields at the end are empty and change nothing.
                    if packet.stream.type == "video" and packet.size:
                        md5.update(bytes(packet))
                        packets += 1
            except (av.FFmpegError, OSError, ValueError) as e:
                raise VideoError(f"video packets do not read ({type(e).__name__}: {e}): {path}") from None
            if not packets:
                raise VideoError(f"the video stream holds no packets: {path}")
    return md5
