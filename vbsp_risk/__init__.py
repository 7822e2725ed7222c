"""vbsp-risk: command line and settings shared by the features, training and serving packages."""
