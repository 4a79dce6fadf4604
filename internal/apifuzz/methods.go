package apifuzz

import (
	"sort"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// Files are the proto files whose services a node serves: Prism's API
// (public and node-to-node), gRPC health and gRPC server reflection.
func Files() []protoreflect.FileDescriptor {
	return []protoreflect.FileDescriptor{
		rpcpb.File_rpc_rpcpb_api_proto,
		healthpb.File_grpc_health_v1_health_proto,
		reflectionv1.File_grpc_reflection_v1_reflection_proto,
		reflectionv1alpha.File_grpc_reflection_v1alpha_reflection_proto,
	}
}

// Method is one RPC.
type Method struct {
	Service protoreflect.FullName // e.g. prism.v1.Internal
	Desc    protoreflect.MethodDescriptor
}

// FullMethod is the gRPC method path, /service/method.
func (m Method) FullMethod() string {
	return "/" + string(m.Service) + "/" + string(m.Desc.Name())
}

// Streaming reports whether either side streams.
func (m Method) Streaming() bool { return m.Desc.IsStreamingClient() || m.Desc.IsStreamingServer() }

func (m Method) streamDesc() *grpc.StreamDesc {
	return &grpc.StreamDesc{
		StreamName:    string(m.Desc.Name()),
		ClientStreams: m.Desc.IsStreamingClient(),
		ServerStreams: m.Desc.IsStreamingServer(),
	}
}

// Methods lists every method of every service in files, sorted by path.
func Methods(files []protoreflect.FileDescriptor) []Method {
	var out []Method
	for _, f := range files {
		for i := 0; i < f.Services().Len(); i++ {
			sd := f.Services().Get(i)
			for j := 0; j < sd.Methods().Len(); j++ {
				out = append(out, Method{Service: sd.FullName(), Desc: sd.Methods().Get(j)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].FullMethod() < out[j].FullMethod() })
	return out
}
