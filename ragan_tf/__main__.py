from ragan_tf.cli import main
import sys

sys.exit(main())
