"""`python -m ragan_tf`: the same as the `ragan-tf` command."""

import sys

from ragan_tf.cli import main

if __name__ == "__main__":
    sys.exit(main())
