"""``arrayneedle.onnx`` is not offered: exporting models to ONNX is out of scope for arrayneedle
(weights travel as .safetensors; see arrayneedle.save_file). Importing it says so."""
raise ImportError("arrayneedle.onnx: ONNX export is out of scope for arrayneedle; save the "
                  "weights with arrayneedle.save_file (.safetensors) and export from PyTorch "
                  "if you need an ONNX graph")
