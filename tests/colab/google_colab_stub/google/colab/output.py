"""``output.enable_custom_widget_manager`` as in Colab, recording each call."""
calls = []


def enable_custom_widget_manager():
    calls.append("enable_custom_widget_manager")
