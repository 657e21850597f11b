"""Build hook for the optional native fast path (feed/_fastfeed.c, feed/fastfeed_state.c). Metadata lives in
pyproject.toml.

``optional=True``: where no C compiler is present the package installs without it and the feed uses the
pure-Python normaliser (same events, several times slower).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("feed._fastfeed", ["feed/_fastfeed.c", "feed/fastfeed_state.c"], depends=["feed/fastfeed.h"],
                  optional=True, extra_compile_args=["-O2"]),
    ]
)
