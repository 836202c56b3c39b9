import { expect } from 'chai';
import { R, resourceOfPath, resourcePath } from '../../src/kube/resources.js';

describe('kube: the resource of a request path (metrics label)', () => {
  const cases: { name: string; path: string; want: string }[] = [
    { name: 'a namespaced core object', path: resourcePath(R.service, 'shop', 'cart'), want: 'services' },
    { name: 'a namespaced core collection with a query', path: `${resourcePath(R.event, 'shop')}?fieldManager=mizzen`, want: 'events' },
    { name: 'the status subresource of a custom resource', path: resourcePath(R.serviceImport, 'shop', 'cart', 'status'), want: 'serviceimports/status' },
    { name: 'a namespace itself (cluster-scoped, named like the namespace prefix)', path: resourcePath(R.namespace, undefined, 'shop'), want: 'namespaces' },
    { name: "a namespace's finalize subresource", path: resourcePath(R.namespace, undefined, 'shop', 'finalize'), want: 'namespaces/finalize' },
    { name: 'the namespace collection', path: resourcePath(R.namespace), want: 'namespaces' },
    { name: 'a cluster-scoped custom resource', path: resourcePath(R.clusterProperty, undefined, 'cluster.clusterset.k8s.io'), want: 'clusterproperties' },
    { name: 'a collection across namespaces', path: resourcePath(R.endpointSlice), want: 'endpointslices' },
    { name: 'discovery of a group version', path: '/apis/multicluster.x-k8s.io/v1alpha1', want: 'discovery' },
    { name: 'a path outside the API', path: '/readyz', want: '/readyz' },
  ];
  for (const c of cases) {
    it(`${c.name}: ${c.want}`, () => {
      expect(resourceOfPath(c.path)).to.equal(c.want);
    });
  }
});
