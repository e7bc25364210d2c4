"""A stand-in for Colab's ``google.colab`` package (tests/colab/test_colab_notebook.py puts it on the
kernel's path): ``drive.mount`` and ``output.enable_custom_widget_manager``, recording their calls."""
