"""Build hook for the optional native fast paths (feed/_fastfeed.c and feed/fastfeed_state.c: the feed's
normaliser; shared/_depthpack.c: packing order books for the writer). Metadata lives in pyproject.toml.

``optional=True``: where no C compiler is present the package installs without it and the feed uses the
pure-Python normaliser and the writer the pure-Python packer (same events and bytes, several times slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("feed._fastfeed", ["feed/_fastfeed.c", "feed/fastfeed_state.c"], depends=["feed/fastfeed.h"],
                  optional=True, extra_compile_args=["-O2"]),
        Extension("shared._depthpack", ["shared/_depthpack.c"], optional=True, extra_compile_args=["-O2"]),
    ]
)
