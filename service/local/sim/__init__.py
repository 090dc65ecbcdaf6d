"""The Connect / Connect Participant / EUM Social / Transcribe simulator of the local sandbox.

Serves the services' real wire protocols (REST-JSON; JSON 1.1 for Transcribe), so the
bridge's production clients work against it through `AWS_ENDPOINT_URL_<SERVICE>`, plays
the customer and the agent, and records everything for inspection through the sandbox API
under `/sandbox/`.
"""

from service.local.sim.app import create_sim_app, run_sim, threaded_sim
from service.local.sim.settings import SimSettings

__all__ = ["SimSettings", "create_sim_app", "run_sim", "threaded_sim"]
