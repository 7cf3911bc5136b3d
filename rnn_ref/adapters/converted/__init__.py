"""Converted engines: a source engine's layer, taken through a conversion tool, run by a runtime.

A conversion belongs to two frameworks, so it is a family of its own. Each engine is composed
(``base.ConvertedAdapter``): the source engine's adapter × a conversion tool × a runtime.
``ENGINES`` are the family's registry rows, each naming its source engine (``converts_from``:
``python -m rnn_ref.cli.conversions`` finds the converters by it); importing this package
imports no framework.
"""

from rnn_ref.adapters.engine_info import EngineInfo

ENGINES = (
    EngineInfo("torch-onnx", "torch_onnx:TorchOnnxAdapter", "onnx",
               "the torch engine's layer exported by torch.onnx.export, run on onnxruntime",
               packages=("torch", "onnxscript", "onnxruntime"), converts_from="torch"),
    EngineInfo("torch-onnx-reference", "torch_onnx_reference:TorchOnnxReferenceAdapter",
               "onnx", "the torch engine's layer exported by torch.onnx.export, run on onnx.reference",
               packages=("torch", "onnxscript", "onnx"), converts_from="torch"),
    EngineInfo("keras-tf2onnx", "keras_tf2onnx:KerasTf2OnnxAdapter", "onnx",
               "the keras engine's layers converted by tf2onnx, run on onnxruntime",
               packages=("tensorflow", "tf2onnx", "onnxruntime"), converts_from="keras"),
    EngineInfo("keras-litert", "keras_litert:KerasLitertAdapter", "litert",
               "the keras engine's layers converted by tf.lite.TFLiteConverter, run by the LiteRT interpreter",
               packages=("tensorflow", "ai_edge_litert"), converts_from="keras"),
    EngineInfo("keras-litert-fp16", "litert_quantized:KerasLitertFloat16Adapter", "litert",
               "keras-litert with float16 weights, judged against the reference on the float16-rounded weights",
               packages=("tensorflow", "ai_edge_litert"), converts_from="keras"),
    EngineInfo("keras-litert-int8", "litert_quantized:KerasLitertInt8Adapter", "litert",
               "keras-litert with dynamic-range int8, judged against a NumPy emulation of its hybrid int8 kernels",
               packages=("tensorflow", "ai_edge_litert"), converts_from="keras"),
    EngineInfo("torch-openvino", "torch_openvino:TorchOpenVinoAdapter", "openvino",
               "the torch engine's layer converted by openvino.convert_model, compiled by OpenVINO's CPU plugin",
               packages=("torch", "openvino"), converts_from="torch"),
    EngineInfo("torch-executorch", "torch_executorch:TorchExecuTorchAdapter", "executorch",
               "the torch engine's layer exported by torch.export, lowered by ExecuTorch's to_edge (portable kernels), "
               "run by executorch.runtime", packages=("torch", "executorch"), converts_from="torch"),
    EngineInfo("torch-executorch-xnnpack", "torch_executorch:TorchExecuTorchXnnpackAdapter", "executorch",
               "the torch engine's layer exported by torch.export, lowered to ExecuTorch with XNNPACK's partitioner, "
               "run by executorch.runtime", packages=("torch", "executorch"), converts_from="torch"),
    EngineInfo("onnx2torch", "onnx_to_torch:OnnxToTorchAdapter", "onnx",
               "the onnx engine's model converted to torch by onnx2torch, run in torch",
               packages=("onnx2torch", "torch"), converts_from="onnx"),
)
