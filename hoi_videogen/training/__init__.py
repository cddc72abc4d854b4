"""Training code of the video generator: losses (noise, MA mIoU, the Hand Refinement Loss) and the trainer.

Modules are imported directly (``from hoi_videogen.training.hand_loss import hand_refinement_loss``) so importing this
package stays cheap.
"""
