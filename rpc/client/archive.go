package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/prism/controlplane/rpc/rpcpb"
)

// ArchiveStatus asks the leader's archiver how far the archive is (the
// leader first; a follower answers NO_LEADER and the next node is tried).
func (c *Client) ArchiveStatus(ctx context.Context) (resp *rpcpb.ArchiveStatusResponse, err error) {
	err = c.do(ctx, idempotent, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewArchiveServiceClient(cc).Status(ctx, &rpcpb.ArchiveStatusRequest{})
		return e
	})
	return resp, err
}

// History lists an object's archived changes, newest first, from any node
// with an archive.
func (c *Client) History(ctx context.Context, req *rpcpb.HistoryRequest) (resp *rpcpb.HistoryResponse, err error) {
	err = c.do(ctx, read, func(ctx context.Context, cc *grpc.ClientConn) (e error) {
		resp, e = rpcpb.NewArchiveServiceClient(cc).History(ctx, req)
		return e
	})
	return resp, err
}
