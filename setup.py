"""Build hook for the optional native fast paths (feed/_fastfeed.c and feed/fastfeed_state.c: the feed's
normaliser; shared/_depthpack.c and writer/_rowfmt.c: packing order books and rendering quote rows
for the writer). Metadata lives in pyproject.toml.

``optional=True``: where no C compiler is present the package installs without them: the feed uses the
pure-Python normaliser, the writer its pure-Python packer and renderer (same events, bytes and rows, several
times slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("feed._fastfeed", ["feed/_fastfeed.c", "feed/fastfeed_state.c"], depends=["feed/fastfeed.h"],
                  optional=True, extra_compile_args=["-O2"]),
        Extension("shared._depthpack", ["shared/_depthpack.c"], optional=True, extra_compile_args=["-O2"]),
        Extension("writer._rowfmt", ["writer/_rowfmt.c"], optional=True, extra_compile_args=["-O2"]),
    ]
)
