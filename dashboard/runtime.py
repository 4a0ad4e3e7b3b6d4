"""Process-wide settings, applied once when the app's process first imports this module (Streamlit reruns
app.py on every interaction, but a module is imported once)."""
import os

import torch

# MLflow prints a progress bar to the server log for every artifact download.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

# Each browser session predicts in its own thread, and the shared models are small: one intra-op thread per
# prediction lets two sessions run side by side on two cores instead of fighting over both.
TORCH_THREADS = int(os.environ.get("RNNLAB_TORCH_THREADS", "1"))
torch.set_num_threads(TORCH_THREADS)
torch.set_num_interop_threads(1)
