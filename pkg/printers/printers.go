// Package printers gives skiff's resources upstream's table columns
// (`kubectl get`, `-o wide`) by running upstream's table printers on the
// internal form of each object.
package printers

import (
	"context"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/rest"
	kprinters "k8s.io/kubernetes/pkg/printers"
	printersinternal "k8s.io/kubernetes/pkg/printers/internalversion"
	printerstorage "k8s.io/kubernetes/pkg/printers/storage"

	"github.com/skiff-project/skiff/pkg/api/rules"
)

// upstreamTables is built once: registering every handler is not free and the
// generator is read-only afterwards.
var upstreamTables = sync.OnceValue(func() printerstorage.TableConvertor {
	return printerstorage.TableConvertor{TableGenerator: kprinters.NewTableGenerator().With(printersinternal.AddHandlers)}
})

// TableConvertor converts k8s.io/api objects into upstream's tables.
type TableConvertor struct {
	upstream printerstorage.TableConvertor
}

var _ rest.TableConvertor = TableConvertor{}

// NewTableConvertor returns a convertor with upstream's columns.
func NewTableConvertor() TableConvertor {
	return TableConvertor{upstream: upstreamTables()}
}

// ConvertToTable converts obj, an object or a list, into a table whose rows
// keep the k8s.io/api objects.
func (c TableConvertor) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	internal, err := rules.ToInternal(obj)
	if err != nil {
		return nil, fmt.Errorf("print %T: %w", obj, err)
	}
	table, err := c.upstream.ConvertToTable(ctx, internal, tableOptions)
	if err != nil {
		return nil, err
	}
	// Rows must carry the served objects, not upstream's internal ones: the
	// API server encodes them for includeObject=Object.
	if meta.IsListType(obj) {
		items, err := meta.ExtractList(obj)
		if err != nil {
			return nil, err
		}
		if len(items) == len(table.Rows) {
			for i := range table.Rows {
				table.Rows[i].Object.Object = items[i]
			}
			return table, nil
		}
		return nil, fmt.Errorf("print %T: %d rows for %d items", obj, len(table.Rows), len(items))
	}
	if len(table.Rows) == 1 {
		table.Rows[0].Object.Object = obj
		return table, nil
	}
	return nil, fmt.Errorf("print %T: %d rows for one object", obj, len(table.Rows))
}
